"use client";
// The session's screen, full-screen: noVNC's RFB client on a WebSocket through the relay
// (server/console/relay.ts), opened with a one-time ticket from tRPC. A thin toolbar that can be
// folded away: connection state and round trip, scaling (fit, 1:1, resize the VM's screen),
// Ctrl+Alt+Del and keys a phone or browser cannot send, the clipboard both ways, quality, full
// screen, the phone's keyboard, Finish. After a network blip it reconnects with a new ticket.
// Touch (noVNC's gestures): tap = click, long-press = right-click, drag = mouse drag, two-finger
// drag = scroll; pinch = zoom on this device, with pan (use-pinch-zoom.ts); in 1:1 a drag pans.
import type RFB from "@novnc/novnc";
import { useMutation } from "@tanstack/react-query";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { createPortal } from "react-dom";
import { backoffDelay } from "@/wire/backoff";
import { CONSOLE_ENDED_TRPC_CODES } from "@/wire/console";
import { errorCode, errorMessage, useTRPC } from "../../../../_trpc/client";
import { ConsoleChannel } from "./console-channel";
import { BACKSPACE, KEYS, keysymOf, MODIFIERS, needsShift, RETURN, SHIFT, type SpecialKey } from "./keys";
import { usePinchZoom } from "./use-pinch-zoom";
import { FIT, MAX_ZOOM, zoomAround, type Zoom } from "./zoom";

type Scale = "fit" | "actual" | "remote";
type Link = "connecting" | "connected" | "reconnecting" | "closed";
type Panel = "keys" | "clipboard" | "view" | null;

const LINK_TEXT: Record<Link, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Not connected",
};
/** Reconnecting waits 1 s, 2 s, 4 s, … up to 10 s. */
const RECONNECT_BACKOFF = { baseMs: 1000, maxMs: 10_000 };

function ToolButton({ children, pressed, onClick, label }: { children: ReactNode; pressed?: boolean; onClick: () => void; label?: string }) {
  return (
    <button
      type="button"
      aria-pressed={pressed}
      aria-label={label}
      onClick={onClick}
      className={`min-h-10 min-w-10 shrink-0 rounded-md px-2 text-sm font-medium sm:px-2.5 ${pressed ? "bg-white text-slate-900" : "text-white hover:bg-white/15"}`}
    >
      {children}
    </button>
  );
}

export function ConsoleViewer({ sessionId, title, onClose, onFinish }: { sessionId: string; title: string; onClose: () => void; onFinish: () => void }) {
  const trpc = useTRPC();
  const areaRef = useRef<HTMLDivElement>(null);
  const screenRef = useRef<HTMLDivElement>(null);
  const keyboardRef = useRef<HTMLTextAreaElement>(null);
  const rfbRef = useRef<RFB | null>(null);
  const [link, setLink] = useState<Link>("connecting");
  const [problem, setProblem] = useState<string | null>(null);
  const [roundTrip, setRoundTrip] = useState<number | null>(null);
  const [desktopName, setDesktopName] = useState("");
  const [scale, setScale] = useState<Scale>("fit");
  const [zoom, setZoom] = useState<Zoom>(FIT);
  const [quality, setQuality] = useState(6);
  const [compression, setCompression] = useState(2);
  const [panel, setPanel] = useState<Panel>(null);
  const [toolbar, setToolbar] = useState(true);
  const [held, setHeld] = useState<string[]>([]);
  const [fromVm, setFromVm] = useState("");
  const [toVm, setToVm] = useState("");
  const issueTicket = useMutation(trpc.sessions.consoleTicket.mutationOptions());
  const issueRef = useRef(issueTicket.mutateAsync);
  issueRef.current = issueTicket.mutateAsync;

  // Connect, and after any drop connect again with a new ticket (backing off up to 10 s), until
  // the viewer closes or the VM is no longer running.
  useEffect(() => {
    let cancelled = false;
    let attempt = 0;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const again = () => {
      attempt += 1;
      setLink("reconnecting");
      retry = setTimeout(() => void connect(), backoffDelay(attempt, RECONNECT_BACKOFF));
    };
    const connect = async () => {
      let ticket: string;
      try {
        ticket = (await issueRef.current({ sessionId })).ticket;
      } catch (error) {
        if (cancelled) return;
        // The session is gone or its VM stopped (finished, lost): nothing to reconnect to.
        const code = errorCode(error);
        if (code && CONSOLE_ENDED_TRPC_CODES.includes(code)) {
          setLink("closed");
          setProblem(errorMessage(error));
          return;
        }
        return again();
      }
      const { default: RFBClient } = await import("@novnc/novnc");
      if (cancelled || !screenRef.current) return;
      const rfb = new RFBClient(screenRef.current, new ConsoleChannel(ticket, (ms) => setRoundTrip(Math.round(ms))), { shared: true });
      rfb.background = "rgb(15 23 42)";
      rfb.addEventListener("connect", () => {
        attempt = 0;
        setLink("connected");
        setProblem(null);
        rfb.focus();
      });
      rfb.addEventListener("disconnect", () => {
        if (rfbRef.current === rfb) rfbRef.current = null;
        if (!cancelled) again();
      });
      // Strings from the guest are shown as text (React escapes them), never as HTML.
      rfb.addEventListener("desktopname", (event) => setDesktopName(event.detail.name));
      rfb.addEventListener("clipboard", (event) => setFromVm(event.detail.text));
      rfbRef.current = rfb;
      setHeld([]);
    };
    void connect();
    return () => {
      cancelled = true;
      clearTimeout(retry);
      rfbRef.current?.disconnect();
      rfbRef.current = null;
    };
  }, [sessionId]);

  // The page under the screen does not scroll while it is open.
  useEffect(() => {
    const before = document.body.style.overflow;
    document.body.style.overflow = "hidden";
    return () => {
      document.body.style.overflow = before;
    };
  }, []);

  // View settings follow the controls, on every (re)connection too.
  useEffect(() => {
    const rfb = rfbRef.current;
    if (!rfb) return;
    rfb.scaleViewport = scale === "fit";
    rfb.resizeSession = scale === "remote";
    rfb.clipViewport = scale === "actual";
    rfb.dragViewport = scale === "actual";
    rfb.qualityLevel = quality;
    rfb.compressionLevel = compression;
  }, [scale, quality, compression, link]);

  // A pinch zooms the fitted picture; from 1:1 or a resized VM it goes back to fit first.
  usePinchZoom(areaRef, zoom, setZoom, () => setScale("fit"));
  const zoomTo = (value: number) => {
    const area = areaRef.current;
    if (area) setZoom(zoomAround(zoom, value, { width: area.clientWidth, height: area.clientHeight }));
  };
  const chooseScale = (value: Scale) => {
    setScale(value);
    if (value !== "fit") setZoom(FIT);
  };

  const rfb = () => rfbRef.current;
  const tap = (key: SpecialKey) => {
    rfb()?.sendKey(key.keysym, key.code);
    rfb()?.focus();
  };
  const toggleModifier = (key: SpecialKey) => {
    const down = !held.includes(key.code);
    rfb()?.sendKey(key.keysym, key.code, down);
    setHeld(down ? [...held, key.code] : held.filter((c) => c !== key.code));
  };
  const fullScreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void document.documentElement.requestFullscreen().catch(() => undefined);
  };

  // On <body>, above everything: not a child of the page's layout (its spacing, its stacking).
  return createPortal(
    <div className="fixed inset-0 z-50 flex flex-col bg-slate-900 text-white" role="dialog" aria-modal="true" aria-label={`Screen of ${title}`}>
      {toolbar ? (
        <div className="flex shrink-0 flex-wrap items-center gap-0.5 bg-slate-800/95 px-1 py-1 [padding-top:max(0.25rem,env(safe-area-inset-top))]" role="toolbar" aria-label="Console">
          <ToolButton onClick={onClose} label="Session details">
            ✕
          </ToolButton>
          <span className="flex shrink-0 items-center gap-1.5 px-1 text-xs" aria-live="polite" data-testid="console-link">
            <span className={`size-2 rounded-full ${link === "connected" ? "bg-emerald-400" : link === "closed" ? "bg-red-400" : "animate-pulse bg-amber-400"}`} />
            {LINK_TEXT[link]}
            {link === "connected" && roundTrip !== null ? <span className="text-slate-300">· {roundTrip} ms</span> : null}
          </span>
          <span className="hidden min-w-0 flex-1 truncate px-1 text-xs text-slate-300 sm:block" title={desktopName}>
            {desktopName}
          </span>
          {zoom.zoom > 1 ? (
            <ToolButton onClick={() => setZoom(FIT)} label={`Zoomed to ${Math.round(zoom.zoom * 100)} %: back to fit`}>
              {Math.round(zoom.zoom * 100)} % ✕
            </ToolButton>
          ) : null}
          <ToolButton onClick={() => rfb()?.sendCtrlAltDel()}>Ctrl+Alt+Del</ToolButton>
          <ToolButton pressed={panel === "keys"} onClick={() => setPanel(panel === "keys" ? null : "keys")}>
            Keys
          </ToolButton>
          <ToolButton
            label="Keyboard"
            onClick={() => {
              keyboardRef.current?.focus();
            }}
          >
            ⌨
          </ToolButton>
          <ToolButton pressed={panel === "clipboard"} onClick={() => setPanel(panel === "clipboard" ? null : "clipboard")}>
            Clipboard
          </ToolButton>
          <ToolButton pressed={panel === "view"} onClick={() => setPanel(panel === "view" ? null : "view")}>
            View
          </ToolButton>
          <ToolButton onClick={fullScreen} label="Full screen">
            <svg viewBox="0 0 16 16" className="mx-auto size-4" fill="none" stroke="currentColor" strokeWidth="1.5" aria-hidden="true">
              <path d="M1.5 5.5v-4h4M10.5 1.5h4v4M14.5 10.5v4h-4M5.5 14.5h-4v-4" />
            </svg>
          </ToolButton>
          <ToolButton onClick={onFinish}>Finish…</ToolButton>
          <ToolButton onClick={() => setToolbar(false)} label="Hide the toolbar">
            ▴
          </ToolButton>
        </div>
      ) : (
        <button
          type="button"
          onClick={() => setToolbar(true)}
          aria-label="Show the toolbar"
          className="absolute left-1/2 top-0 z-10 -translate-x-1/2 rounded-b-md bg-slate-800/80 px-4 py-1 text-xs text-white"
        >
          ▾
        </button>
      )}
      {panel ? (
        <div className="shrink-0 border-t border-white/10 bg-slate-800/95 p-2 text-sm">
          {panel === "keys" ? (
            <div className="flex flex-wrap gap-1">
              {MODIFIERS.map((key) => (
                <ToolButton key={key.code} pressed={held.includes(key.code)} onClick={() => toggleModifier(key)}>
                  {key.label}
                </ToolButton>
              ))}
              {KEYS.map((key) => (
                <ToolButton key={key.code} onClick={() => tap(key)}>
                  {key.label}
                </ToolButton>
              ))}
            </div>
          ) : panel === "clipboard" ? (
            <div className="grid gap-2 sm:grid-cols-2">
              <label className="grid gap-1">
                <span className="text-xs text-slate-300">From the VM</span>
                <textarea readOnly value={fromVm} rows={3} className="rounded bg-slate-950 p-2 font-mono text-xs" aria-label="Clipboard from the VM" />
              </label>
              <label className="grid gap-1">
                <span className="text-xs text-slate-300">To the VM (then paste there)</span>
                <textarea value={toVm} onChange={(e) => setToVm(e.target.value)} rows={3} className="rounded bg-slate-950 p-2 font-mono text-xs" aria-label="Clipboard to the VM" />
                <span>
                  <ToolButton onClick={() => rfb()?.clipboardPasteFrom(toVm)}>Send to the VM</ToolButton>
                </span>
              </label>
            </div>
          ) : (
            <div className="flex flex-wrap items-center gap-3">
              <span className="flex gap-1" role="radiogroup" aria-label="Scale">
                {(
                  [
                    ["fit", "Fit"],
                    ["actual", "1:1"],
                    ["remote", "Resize VM"],
                  ] as const
                ).map(([value, label]) => (
                  <ToolButton key={value} pressed={scale === value} onClick={() => chooseScale(value)}>
                    {label}
                  </ToolButton>
                ))}
              </span>
              <label className="flex items-center gap-2 text-xs">
                Zoom
                <input
                  type="range"
                  min={100}
                  max={MAX_ZOOM * 100}
                  step={10}
                  value={Math.round(zoom.zoom * 100)}
                  disabled={scale !== "fit"}
                  onChange={(e) => zoomTo(Number(e.target.value) / 100)}
                />
              </label>
              <label className="flex items-center gap-2 text-xs">
                Quality
                <input type="range" min={0} max={9} value={quality} onChange={(e) => setQuality(Number(e.target.value))} />
              </label>
              <label className="flex items-center gap-2 text-xs">
                Compression
                <input type="range" min={0} max={9} value={compression} onChange={(e) => setCompression(Number(e.target.value))} />
              </label>
              <span className="w-full text-xs text-slate-300">On a touch screen: pinch to zoom, then move around with two fingers.</span>
            </div>
          )}
        </div>
      ) : null}
      {problem ? <p className="shrink-0 bg-red-900/80 px-3 py-2 text-sm">{problem}</p> : null}
      {/* The visible area; the screen inside is zoom times its size, moved by the pan. */}
      <div ref={areaRef} className="relative min-h-0 flex-1 overflow-hidden">
        <div
          ref={screenRef}
          className="absolute"
          style={{ width: `${zoom.zoom * 100}%`, height: `${zoom.zoom * 100}%`, left: -zoom.x, top: -zoom.y }}
          data-testid="console-screen"
        />
      </div>
      {/* The phone's keyboard: what is typed here is sent key by key, then cleared. */}
      <textarea
        ref={keyboardRef}
        aria-label="Type into the VM"
        autoCapitalize="off"
        autoComplete="off"
        autoCorrect="off"
        spellCheck={false}
        className="absolute bottom-0 left-0 size-px opacity-0"
        onKeyDown={(e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            tap(RETURN);
          } else if (e.key === "Backspace" && e.currentTarget.value === "") {
            e.preventDefault();
            tap(BACKSPACE);
          }
        }}
        onInput={(e) => {
          const text = e.currentTarget.value;
          e.currentTarget.value = "";
          for (const char of text) {
            const shift = needsShift(char);
            if (shift) rfb()?.sendKey(SHIFT.keysym, SHIFT.code, true);
            rfb()?.sendKey(keysymOf(char), null);
            if (shift) rfb()?.sendKey(SHIFT.keysym, SHIFT.code, false);
          }
        }}
      />
    </div>,
    document.body,
  );
}
