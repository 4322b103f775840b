// A session's changes as a tree of directories, for the changes list: every changed path under
// its parent directories (which appear even when they did not change themselves), each
// directory knowing how many changes it holds and how many bytes they weigh.

export interface ChangeLike {
  path: string;
  after: { size: number | null } | null;
  before: { size: number | null } | null;
}

export interface ChangeNode<C extends ChangeLike> {
  name: string;
  path: string;
  change: C | null;
  children: ChangeNode<C>[];
  /** Changes in this directory and below, this one included. */
  count: number;
  /** Bytes of the changed files' new versions (old ones for deletions), below and here. */
  bytes: number;
}

export function changeTree<C extends ChangeLike>(changes: C[]): ChangeNode<C> {
  const root: ChangeNode<C> = { name: "/", path: "/", change: null, children: [], count: 0, bytes: 0 };
  const byPath = new Map<string, ChangeNode<C>>([["/", root]]);
  const nodeAt = (path: string): ChangeNode<C> => {
    const existing = byPath.get(path);
    if (existing) return existing;
    const parentPath = path.slice(0, path.lastIndexOf("/")) || "/";
    const node: ChangeNode<C> = { name: path.slice(path.lastIndexOf("/") + 1), path, change: null, children: [], count: 0, bytes: 0 };
    nodeAt(parentPath).children.push(node);
    byPath.set(path, node);
    return node;
  };
  for (const change of changes) {
    const node = nodeAt(change.path);
    node.change = change;
    const bytes = (change.after ?? change.before)?.size ?? 0;
    for (let p: string | null = change.path; p !== null; p = p === "/" ? null : p.slice(0, p.lastIndexOf("/")) || "/") {
      const up = byPath.get(p)!;
      up.count += 1;
      up.bytes += bytes;
    }
  }
  const sort = (node: ChangeNode<C>) => {
    // Directories first, then by name.
    node.children.sort((a, b) => Number(b.children.length > 0) - Number(a.children.length > 0) || a.name.localeCompare(b.name));
    node.children.forEach(sort);
  };
  sort(root);
  return root;
}
