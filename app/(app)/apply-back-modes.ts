import type { ApplyBackMode } from "@/wire/enums";

export const APPLY_BACK_MODE_LABELS: Record<ApplyBackMode, { title: string; description: string }> = {
  auto: {
    title: "Automatic",
    description: "Every session you save is sent home and applied at once. Files changed at home too are never overwritten.",
  },
  prompt: {
    title: "Ask first",
    description: "The agent asks the person at the computer before applying anything.",
  },
  manual: {
    title: "On demand",
    description: "Changes wait until someone runs the agent's apply command on the computer.",
  },
};
