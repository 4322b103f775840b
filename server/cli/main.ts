// The `twinboot` admin CLI: users, machines and the database, run on the server.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { ZodError } from "zod";
import { closeDb } from "@/db/client";
import { migrateDatabase } from "@/db/migrate";
import { EnvError } from "@/server/env";
import { DomainError } from "@/server/errors";
import { createMachine, listAllMachines } from "@/server/machines/machines";
import { createUser, findUserIdByEmail, listUsers } from "@/server/users/users";
import { ZEmailSchema } from "@/wire/account";
import { ZMachineNameSchema } from "@/wire/machines";
import { ZAddHostSchema, ZHostNameSchema } from "@/wire/pool";
import { addHost, hostState, listHosts, removeHost, setHostMode } from "@/server/pool/hosts";
import { closeAllHostConnections } from "@/server/pool/host-connections";
import { getVmNetwork, setVmNetwork } from "@/server/settings/vm-network";

const USAGE = `Usage: twinboot <command>

  user add --email EMAIL --password-stdin [--admin]   add a user; the password is read from stdin
  user list                                           list users
  machine add --owner EMAIL --name NAME               add a machine; prints its one-time enrollment token
  machine list                                        list every machine and its owner
  hypervisor add --name N --ssh USER@HOST[:PORT] --key PATH [--libvirt-uri URI] [--fingerprint SHA256:…]
                                                      add a hypervisor host; shows and pins its SSH host key
  hypervisor list                                     list the pool's hosts, their state and capacity
  hypervisor drain NAME | enable NAME                 stop or resume placing new sessions on a host
  hypervisor remove NAME                              forget a host
  hypervisor network [none|nat]                       show or set the network new VMs get: none, or an
                                                      isolated NAT of their own (see the README)
  db migrate                                          apply database migrations (safe to repeat)
  worker [--only KIND,KIND]                           run jobs (inspection, change lists, VMs) without
                                                      serving pages, until stopped (SIGTERM)

Configuration comes from the environment (DATABASE_URL and the rest; see the README).`;

class UsageError extends Error {}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError("--password-stdin reads the password from a pipe: echo … | twinboot user add …");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

function table(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) return void console.log("(none)");
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((c) => (row[c] instanceof Date ? (row[c] as Date).toISOString() : String(row[c] ?? "-"))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  console.log(line(columns));
  for (const r of cells) console.log(line(r));
}

async function run(argv: string[]): Promise<void> {
  const [area, ...tail] = argv;
  // `worker` takes options straight after it; every other command has a verb first.
  const verb = area === "worker" ? undefined : tail[0];
  const rest = area === "worker" ? tail : tail.slice(1);
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      email: { type: "string" },
      "password-stdin": { type: "boolean" },
      admin: { type: "boolean" },
      owner: { type: "string" },
      name: { type: "string" },
      ssh: { type: "string" },
      key: { type: "string" },
      "libvirt-uri": { type: "string" },
      fingerprint: { type: "string" },
      only: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  switch (`${area} ${verb}`) {
    case "user add": {
      if (!values.email || !values["password-stdin"]) throw new UsageError("user add needs --email and --password-stdin.");
      const user = await createUser({
        email: ZEmailSchema.parse(values.email),
        password: await readStdin(),
        role: values.admin ? "admin" : "user",
      });
      return void console.log(`Added ${user.role} ${user.email} (${user.id}).`);
    }
    case "worker undefined":
      process.exitCode = await (await import("@/server/worker")).runWorker({ only: values.only?.split(",").filter(Boolean) });
      return;
    case "user list":
      return table((await listUsers()).map(({ id, email, role, totpEnabled, createdAt }) => ({ id, email, role, totp: totpEnabled, created: createdAt })));
    case "machine add": {
      if (!values.owner || !values.name) throw new UsageError("machine add needs --owner and --name.");
      const ownerId = await findUserIdByEmail(ZEmailSchema.parse(values.owner));
      if (!ownerId) throw new UsageError(`No user has the email ${values.owner}. Add one with: twinboot user add`);
      const { machine, enrollmentToken } = await createMachine({ ownerId, name: ZMachineNameSchema.parse(values.name) }, undefined, false);
      console.log(`Added machine ${machine.name} (${machine.id}).`);
      console.log(`One-time enrollment token (valid until ${machine.enrollmentTokenExpiresAt?.toISOString()}):`);
      return void console.log(enrollmentToken);
    }
    case "machine list":
      return table((await listAllMachines()).map(({ id, name, ownerEmail, applyBackMode, enrolledAt }) => ({ id, name, owner: ownerEmail, applyBack: applyBackMode, enrolled: enrolledAt })));
    case "hypervisor add": {
      if (!values.name || !values.ssh || !values.key) throw new UsageError("hypervisor add needs --name, --ssh and --key.");
      const privateKey = await readFile(values.key, "utf8").catch(() => {
        throw new UsageError(`Cannot read the private key ${values.key}.`);
      });
      const input = ZAddHostSchema.parse({
        name: values.name,
        ssh: values.ssh,
        privateKey,
        libvirtUri: values["libvirt-uri"],
        expectedFingerprint: values.fingerprint,
      });
      const host = await addHost(input, { userId: null, byUser: false });
      console.log(`Added hypervisor host ${host.name}: ${host.cpus} CPUs, ${(host.memoryBytes / 2 ** 30).toFixed(1)} GiB, ${host.kvm ? "KVM" : "no working KVM (VMs use TCG)"}.`);
      console.log(`Pinned its SSH host key ${host.hostKeyFingerprint}; any other key will be refused.`);
      if (!input.expectedFingerprint) console.log(`Check it on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`);
      return;
    }
    case "hypervisor list":
      return table(
        (await listHosts()).map((h) => ({
          name: h.name,
          ssh: `${h.sshUser}@${h.sshHost}:${h.sshPort}`,
          state: hostState(h),
          cpus: h.cpus,
          memory: `${(h.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
          kvm: h.kvm,
          hostKey: h.hostKeyFingerprint,
          problem: h.problem,
        })),
      );
    case "hypervisor drain":
    case "hypervisor enable": {
      const name = ZHostNameSchema.parse(positionals[0] ?? values.name ?? "");
      const host = await setHostMode(name, verb === "drain" ? "draining" : "enabled", { userId: null, byUser: false });
      return void console.log(`${host.name} is now ${host.mode}.`);
    }
    case "hypervisor remove": {
      const name = ZHostNameSchema.parse(positionals[0] ?? values.name ?? "");
      await removeHost(name, { userId: null, byUser: false });
      return void console.log(`Removed hypervisor host ${name}.`);
    }
    case "hypervisor network": {
      const wanted = positionals[0];
      if (wanted === undefined) return void console.log(`New VMs get: ${await getVmNetwork()}`);
      if (wanted !== "none" && wanted !== "nat") throw new UsageError(`The VM network is none or nat, not “${wanted}”.`);
      await setVmNetwork(wanted, { userId: null, byUser: false });
      return void console.log(`New VMs get: ${wanted}. Running ones keep theirs.`);
    }
    case "db migrate":
      await migrateDatabase();
      return void console.log("Database is up to date.");
    default:
      throw new UsageError(area ? `Unknown command: ${argv.join(" ")}` : "");
  }
}

/** Runs the CLI; returns the exit code. Errors print one line, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await run(argv);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.message) console.error(`twinboot: ${error.message}\n`);
      console.error(USAGE);
      return 2;
    }
    if (error instanceof ZodError) console.error(`twinboot: ${error.issues[0]?.message ?? "invalid input"}`);
    else if (error instanceof DomainError || error instanceof EnvError) console.error(`twinboot: ${error.message}`);
    else if (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS")) {
      console.error(`twinboot: ${error.message}\n\n${USAGE}`);
      return 2;
    } else console.error(`twinboot: unexpected error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    closeAllHostConnections();
    await closeDb();
  }
}
