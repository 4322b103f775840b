import { describe, expect, it } from "vitest";
import { FIT, MAX_ZOOM, clampZoom, pan, pinch, zoomAround } from "./zoom";

const area = { width: 400, height: 800 };

describe("the local zoom of the screen", () => {
  it("keeps the point under the fingers where it was while they spread", () => {
    const zoomed = pinch(FIT, { spread: 100, x: 100, y: 200 }, { spread: 200, x: 100, y: 200 }, area);
    expect(zoomed).toEqual({ zoom: 2, x: 100, y: 200 });
    // The screen point (100, 200) is drawn at 2× and moved back by the pan: still under (100, 200).
    expect(100 * zoomed.zoom - zoomed.x).toBe(100);
    expect(200 * zoomed.zoom - zoomed.y).toBe(200);
  });

  it("pans when the fingers move together during the pinch", () => {
    const moved = pinch({ zoom: 2, x: 100, y: 200 }, { spread: 100, x: 100, y: 200 }, { spread: 100, x: 50, y: 150 }, area);
    expect(moved).toEqual({ zoom: 2, x: 150, y: 250 });
    expect(pan({ zoom: 2, x: 100, y: 200 }, -50, -50, area)).toEqual(moved);
  });

  it("never zooms out past fit or in past the maximum, and never shows past the screen's edges", () => {
    expect(pinch(FIT, { spread: 200, x: 10, y: 10 }, { spread: 50, x: 10, y: 10 }, area)).toEqual(FIT);
    expect(pinch(FIT, { spread: 10, x: 0, y: 0 }, { spread: 1000, x: 0, y: 0 }, area).zoom).toBe(MAX_ZOOM);
    expect(clampZoom({ zoom: 2, x: -30, y: 5000 }, area)).toEqual({ zoom: 2, x: 0, y: 800 });
    expect(pan(FIT, 100, 100, area)).toEqual(FIT);
  });

  it("zooms around the centre from the View panel", () => {
    expect(zoomAround(FIT, 2, area)).toEqual({ zoom: 2, x: 200, y: 400 });
    expect(zoomAround({ zoom: 2, x: 200, y: 400 }, 1, area)).toEqual(FIT);
  });
});
