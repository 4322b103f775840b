"use client";
// Pinch-zoom with pan, on this device only. noVNC recognises the gestures (its GestureHandler
// dispatches gesturestart/move/end on the canvas) but would send a pinch to the VM as Ctrl+wheel;
// here a listener on the visible area, in the capture phase, takes pinches before noVNC sees them
// and zooms the picture around the fingers instead (zoom.ts), and while zoomed in takes
// two-finger drags to pan.
// At fit, a two-finger drag still reaches noVNC: it scrolls in the VM.
import { useEffect, useRef, type RefObject } from "react";
import { clampZoom, pan, pinch, type Zoom } from "./zoom";

interface GestureDetail {
  type: string;
  clientX: number;
  clientY: number;
  magnitudeX: number;
  magnitudeY: number;
}

export function usePinchZoom(
  areaRef: RefObject<HTMLElement | null>,
  zoom: Zoom,
  setZoom: (zoom: Zoom) => void,
  onPinchStart: () => void,
): void {
  const current = useRef(zoom);
  current.current = zoom;
  const handlers = useRef({ setZoom, onPinchStart });
  handlers.current = { setZoom, onPinchStart };

  useEffect(() => {
    const area = areaRef.current;
    if (!area) return;
    let gesture: { type: string; start: Zoom; spread: number; x: number; y: number } | null = null;
    const point = (detail: GestureDetail) => {
      const rect = area.getBoundingClientRect();
      return { x: detail.clientX - rect.left, y: detail.clientY - rect.top, spread: Math.hypot(detail.magnitudeX, detail.magnitudeY) };
    };
    const size = () => ({ width: area.clientWidth, height: area.clientHeight });

    const onGesture = (event: Event) => {
      const detail = (event as CustomEvent<GestureDetail>).detail;
      if (event.type === "gesturestart") {
        const ours = detail.type === "pinch" || (detail.type === "twodrag" && current.current.zoom > 1);
        if (!ours) return;
        if (detail.type === "pinch") handlers.current.onPinchStart();
        gesture = { type: detail.type, start: current.current, ...point(detail) };
      }
      if (!gesture || detail.type !== gesture.type) return;
      event.stopPropagation();
      if (event.type === "gesturemove") {
        // noVNC gives a pinch's spread and a two-finger drag's movement (magnitude); the position
        // stays where the gesture began, so a pinch zooms around that point.
        const spread = Math.hypot(detail.magnitudeX, detail.magnitudeY);
        handlers.current.setZoom(
          gesture.type === "pinch"
            ? pinch(gesture.start, gesture, { ...gesture, spread }, size())
            : pan(gesture.start, detail.magnitudeX, detail.magnitudeY, size()),
        );
      } else if (event.type === "gestureend") {
        gesture = null;
      }
    };
    // The visible area changes size (rotation, the toolbar, the phone's keyboard): keep the pan inside.
    const observer = new ResizeObserver(() => {
      const clamped = clampZoom(current.current, size());
      if (clamped.x !== current.current.x || clamped.y !== current.current.y) handlers.current.setZoom(clamped);
    });
    observer.observe(area);
    for (const type of ["gesturestart", "gesturemove", "gestureend"]) area.addEventListener(type, onGesture, { capture: true });
    return () => {
      observer.disconnect();
      for (const type of ["gesturestart", "gesturemove", "gestureend"]) area.removeEventListener(type, onGesture, { capture: true });
    };
  }, [areaRef]);
}
