// Local zoom of the screen on this device (the VM sees nothing of it): the screen element is made
// `zoom` times the size of the visible area, noVNC scales the VM's picture to fit that element
// (so its pointer arithmetic stays right), and `x`, `y` are how far the element is moved left and
// up — the pan. 1 is "fit".

export interface Zoom {
  zoom: number;
  x: number;
  y: number;
}

export const FIT: Zoom = { zoom: 1, x: 0, y: 0 };
export const MAX_ZOOM = 4;

interface Area {
  width: number;
  height: number;
}

/** Keeps the zoom within 1…MAX_ZOOM and the pan within the zoomed screen: no empty border. */
export function clampZoom({ zoom, x, y }: Zoom, area: Area): Zoom {
  const z = Math.min(MAX_ZOOM, Math.max(1, zoom));
  const clamp = (value: number, max: number) => Math.min(max, Math.max(0, value));
  return { zoom: z, x: clamp(x, (z - 1) * area.width), y: clamp(y, (z - 1) * area.height) };
}

/**
 * A pinch, from where it started to where the fingers are now: the zoom follows the spread of
 * the fingers, and the point of the screen that was under their midpoint stays under it (so
 * moving both fingers pans). Points are relative to the visible area's top-left corner.
 */
export function pinch(
  start: Zoom,
  from: { spread: number; x: number; y: number },
  to: { spread: number; x: number; y: number },
  area: Area,
): Zoom {
  const zoom = Math.min(MAX_ZOOM, Math.max(1, start.zoom * (to.spread / Math.max(1, from.spread))));
  // The point under the fingers at the start, in unzoomed screen coordinates.
  const px = (from.x + start.x) / start.zoom;
  const py = (from.y + start.y) / start.zoom;
  return clampZoom({ zoom, x: px * zoom - to.x, y: py * zoom - to.y }, area);
}

/** Zooms to `zoom` around a point of the visible area (its centre by default): the View slider. */
export function zoomAround(current: Zoom, zoom: number, area: Area, at = { x: area.width / 2, y: area.height / 2 }): Zoom {
  return pinch(current, { spread: 1, ...at }, { spread: zoom / current.zoom, ...at }, area);
}

/** Pans by a finger movement (dx, dy): the picture follows the fingers. */
export function pan(start: Zoom, dx: number, dy: number, area: Area): Zoom {
  return clampZoom({ zoom: start.zoom, x: start.x - dx, y: start.y - dy }, area);
}
