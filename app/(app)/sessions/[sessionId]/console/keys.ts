// Keys the console toolbar sends that a phone or a browser cannot (X11 keysyms, as RFB uses them,
// with the DOM code noVNC passes on for QEMU's extended key events).
export interface SpecialKey {
  label: string;
  keysym: number;
  code: string;
}

export const MODIFIERS: SpecialKey[] = [
  { label: "Ctrl", keysym: 0xffe3, code: "ControlLeft" },
  { label: "Alt", keysym: 0xffe9, code: "AltLeft" },
  { label: "Super", keysym: 0xffeb, code: "MetaLeft" },
];

export const KEYS: SpecialKey[] = [
  { label: "Esc", keysym: 0xff1b, code: "Escape" },
  { label: "Tab", keysym: 0xff09, code: "Tab" },
  { label: "←", keysym: 0xff51, code: "ArrowLeft" },
  { label: "↑", keysym: 0xff52, code: "ArrowUp" },
  { label: "↓", keysym: 0xff54, code: "ArrowDown" },
  { label: "→", keysym: 0xff53, code: "ArrowRight" },
  ...Array.from({ length: 12 }, (_, i) => ({ label: `F${i + 1}`, keysym: 0xffbe + i, code: `F${i + 1}` })),
];

export const RETURN: SpecialKey = { label: "Enter", keysym: 0xff0d, code: "Enter" };
export const BACKSPACE: SpecialKey = { label: "Backspace", keysym: 0xff08, code: "Backspace" };

/** The keysym of a typed character: Latin-1 as itself, the rest of Unicode as 0x01000000 + code point. */
export function keysymOf(char: string): number {
  const codePoint = char.codePointAt(0)!;
  if (char === "\n") return RETURN.keysym;
  return (codePoint >= 0x20 && codePoint <= 0x7e) || (codePoint >= 0xa0 && codePoint <= 0xff) ? codePoint : 0x01000000 + codePoint;
}

export const SHIFT: SpecialKey = { label: "Shift", keysym: 0xffe1, code: "ShiftLeft" };

/**
 * Characters that need Shift on a US keyboard. A phone's keyboard sends the character, not the
 * Shift key, and VNC servers such as QEMU's turn a key symbol into the key that carries it: the
 * console presses Shift around these itself. (A guest with another layout maps keys its own way,
 * as with any VNC viewer.)
 */
export function needsShift(char: string): boolean {
  return /^[A-Z~!@#$%^&*()_+{}|:"<>?]$/.test(char);
}
