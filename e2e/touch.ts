// Two-finger gestures for e2e tests: Playwright's touchscreen has one finger only, so these go
// through Chromium's own touch input (CDP Input.dispatchTouchEvent), as a phone's would.
import type { Page } from "playwright-core";

export interface Point {
  x: number;
  y: number;
}

/** Both fingers down at `from`, moved in steps to `to`, then lifted. */
export async function twoFingers(page: Page, from: [Point, Point], to: [Point, Point], steps = 10): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  const at = (t: number) =>
    from.map((start, i) => ({ id: i, x: start.x + (to[i]!.x - start.x) * t, y: start.y + (to[i]!.y - start.y) * t, radiusX: 4, radiusY: 4, force: 1 }));
  await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: at(0) });
  for (let step = 1; step <= steps; step++) {
    await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: at(step / steps) });
    await new Promise((resolve) => setTimeout(resolve, 16));
  }
  await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  await cdp.detach();
}

/** Fingers `spreadFrom` apart around `centre`, spreading to `spreadTo` apart (a pinch out zooms in). */
export function pinchAround(page: Page, centre: Point, spreadFrom: number, spreadTo: number): Promise<void> {
  const pair = (spread: number): [Point, Point] => [
    { x: centre.x - spread / 2, y: centre.y },
    { x: centre.x + spread / 2, y: centre.y },
  ];
  return twoFingers(page, pair(spreadFrom), pair(spreadTo));
}

/** Both fingers moved together by (dx, dy). */
export function twoFingerDrag(page: Page, start: Point, dx: number, dy: number): Promise<void> {
  const pair: [Point, Point] = [
    { x: start.x - 40, y: start.y },
    { x: start.x + 40, y: start.y },
  ];
  return twoFingers(page, pair, [
    { x: pair[0].x + dx, y: pair[0].y + dy },
    { x: pair[1].x + dx, y: pair[1].y + dy },
  ]);
}
