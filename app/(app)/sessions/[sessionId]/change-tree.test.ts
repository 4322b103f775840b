import { describe, expect, it } from "vitest";
import { changeTree } from "./change-tree";

const file = (path: string, size: number) => ({ path, before: null, after: { size } });

describe("the tree of a session's changes", () => {
  it("puts each change under its directories, with counts and sizes, directories first", () => {
    const tree = changeTree([file("/root/report.txt", 18), file("/root/projects", 0), file("/etc/hostname", 13), file("/root/projects/plan.md", 100)]);
    expect(tree).toMatchObject({ count: 4, bytes: 131 });
    expect(tree.children.map((c) => c.path)).toEqual(["/etc", "/root"]);
    const root = tree.children[1]!;
    expect(root).toMatchObject({ change: null, count: 3, bytes: 118 });
    expect(root.children.map((c) => [c.name, c.count])).toEqual([
      ["projects", 2],
      ["report.txt", 1],
    ]);
    expect(root.children[0]!.change?.path).toBe("/root/projects");
  });

  it("counts a deleted file by its old size", () => {
    expect(changeTree([{ path: "/etc/fstab", before: { size: 40 }, after: null }]).bytes).toBe(40);
  });
});
