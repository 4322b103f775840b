export function Logo({ className = "h-8 w-8" }: { className?: string }) {
  return (
    <svg viewBox="0 0 64 64" className={className} aria-hidden="true">
      <rect width="64" height="64" rx="14" fill="#0d8572" />
      <rect x="12" y="16" width="24" height="18" rx="3" fill="none" stroke="#fff" strokeWidth="4" />
      <rect x="28" y="30" width="24" height="18" rx="3" fill="#0d8572" stroke="#c9f5ec" strokeWidth="4" />
    </svg>
  );
}
