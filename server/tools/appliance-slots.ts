// Reading files out of images on request (a changed file for the browser, a change set for an
// agent) costs a libguestfs appliance each: memory and a CPU. At most MAX_READING run at once per
// server; beyond that the caller is told to come back, rather than queue up memory.
import { RateLimitedError } from "@/server/errors";

const MAX_READING = 2;
let reading = 0;

/** Takes a slot, or throws RateLimitedError; call the returned function once to give it back. */
export function takeApplianceSlot(): () => void {
  if (reading >= MAX_READING) throw new RateLimitedError("Other files are being read out of their images right now; try again in a minute.", new Date(Date.now() + 60_000));
  reading += 1;
  let released = false;
  return () => {
    if (!released) reading -= 1;
    released = true;
  };
}
