"use client";
import { useEffect } from "react";
import { Button } from "../_components/ui";

export function RetryButton() {
  useEffect(() => {
    const reload = () => window.location.reload();
    window.addEventListener("online", reload);
    return () => window.removeEventListener("online", reload);
  }, []);
  return <Button onClick={() => window.location.reload()}>Try again</Button>;
}
