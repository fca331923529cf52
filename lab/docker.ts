/**
 * A Docker engine for the cluster: dockerd on the host with everything (data, exec root, pidfile,
 * socket) under the state dir and no iptables or bridge; machines get its socket and client bound in.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { tail } from './logs.js';
import { isAlive, record, sleep, spawnDetached, stopProcess } from './proc.js';
import { run, runOk, type RunResult } from './run.js';
import type { DockerRecord, LabState } from './state.js';

export const DOCKERD_BIN = process.env.FLEET_LAB_DOCKERD ?? '/usr/sbin/dockerd';
export const BUSYBOX_BIN = process.env.FLEET_LAB_BUSYBOX ?? '/bin/busybox';
export const BUSYBOX_IMAGE = 'fleet-lab/busybox:latest';
/** where machines find the engine's socket (the docker client's default, /var/run -> /run) */
export const MACHINE_DOCKER_SOCKET = '/run/docker.sock';

/** The client that matches dockerd (Debian's docker.io), not whatever else is first on PATH. */
function dockerClient(): string {
  for (const c of [process.env.FLEET_LAB_DOCKER, '/usr/bin/docker', '/usr/local/bin/docker']) {
    if (c && existsSync(c)) return c;
  }
  throw new LabError('no docker client found (install docker.io)');
}

export function dockerRecord(s: LabState): DockerRecord {
  const base = join(s.stateDir, 'docker');
  return {
    socket: join(base, 'docker.sock'),
    dataRoot: join(base, 'data'),
    // containerd's socket lives below the exec root: keep the path short (unix sockets: 108 bytes)
    execRoot: join(s.stateDir, 'dx'),
    pidfile: join(base, 'docker.pid'),
    log: join(base, 'dockerd.log'),
    client: dockerClient(),
    image: BUSYBOX_IMAGE,
  };
}

export function dockerPing(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

export function docker(rec: DockerRecord, args: readonly string[], input?: string): Promise<RunResult> {
  return run(rec.client, ['-H', `unix://${rec.socket}`, ...args], { input, timeoutMs: 120_000 });
}

/** Start dockerd unless it answers, then make sure the busybox image exists. */
export async function ensureDocker(s: LabState, persist: () => Promise<void>): Promise<DockerRecord> {
  const rec: DockerRecord = s.docker ?? dockerRecord(s);
  s.docker = rec;
  if (!(isAlive(rec.proc) && (await dockerPing(rec.socket)))) {
    await stopProcess(rec.proc);
    if (rec.socket.length > 100 || join(rec.execRoot, 'containerd', 'containerd.sock').length > 100) {
      throw new LabError(`state dir ${s.stateDir} is too long for docker's unix sockets; use a shorter --state-dir`);
    }
    await mkdir(rec.dataRoot, { recursive: true });
    await mkdir(rec.execRoot, { recursive: true });
    const config = join(s.stateDir, 'docker', 'daemon.json');
    await writeFile(config, '{}\n');
    await rm(rec.socket, { force: true });
    rec.proc = spawnDetached(
      DOCKERD_BIN,
      [
        '--iptables=false',
        '--ip-masq=false',
        '--bridge=none',
        '--userland-proxy=false',
        `--config-file=${config}`,
        `--data-root=${rec.dataRoot}`,
        `--exec-root=${rec.execRoot}`,
        `--pidfile=${rec.pidfile}`,
        `--host=unix://${rec.socket}`,
        `--containerd-namespace=fleet-lab-${s.name}`,
        `--containerd-plugins-namespace=fleet-lab-${s.name}-plugins`,
        '--log-level=warn',
      ],
      { log: rec.log, env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' } },
    );
    await persist();
    const deadline = Date.now() + 60_000;
    while (!(await dockerPing(rec.socket))) {
      if (!isAlive(rec.proc)) throw new LabError(`dockerd exited during start; ${rec.log}:\n${await tail(rec.log)}`);
      if (Date.now() > deadline) throw new LabError(`dockerd did not answer on ${rec.socket} within 60 s; see ${rec.log}`);
      await sleep(100);
    }
    rec.containerd = await supervisedContainerd(rec);
    await persist();
  }
  await ensureBusyboxImage(rec);
  return rec;
}

async function supervisedContainerd(rec: DockerRecord): Promise<DockerRecord['containerd']> {
  try {
    const pid = Number((await readFile(join(rec.execRoot, 'containerd', 'containerd.pid'), 'utf8')).trim());
    return pid > 0 ? record(pid) : undefined;
  } catch {
    return undefined;
  }
}

/** A one-layer image of busybox-static with an applet symlink for every command. */
export async function ensureBusyboxImage(rec: DockerRecord): Promise<void> {
  if ((await docker(rec, ['image', 'inspect', rec.image])).code === 0) return;
  const work = join(rec.dataRoot, '..', 'busybox');
  const rootfs = join(work, 'rootfs');
  await rm(work, { recursive: true, force: true });
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['tmp', 'etc', 'proc', 'sys', 'dev']) await mkdir(join(rootfs, d), { recursive: true });
  await copyFile(BUSYBOX_BIN, join(rootfs, 'bin', 'busybox'));
  const applets = (await runOk(BUSYBOX_BIN, ['--list'])).split('\n').filter((a) => /^[\w.[-]+$/.test(a));
  for (const a of applets) if (a !== 'busybox') await symlink('busybox', join(rootfs, 'bin', a)).catch(() => undefined);
  const tarball = join(work, 'rootfs.tar');
  await runOk('tar', ['-C', rootfs, '-cf', tarball, '.']);
  const r = await docker(rec, ['import', '--change', 'CMD ["/bin/sh"]', '--change', 'ENV PATH=/bin', tarball, rec.image]);
  if (r.code !== 0) throw new LabError(`docker import of ${rec.image} failed: ${r.stderr.trim()}`);
  await rm(work, { recursive: true, force: true });
}

export async function stopDocker(rec: DockerRecord | undefined): Promise<void> {
  if (!rec) return;
  if (isAlive(rec.proc) && (await dockerPing(rec.socket))) {
    const ids = (await docker(rec, ['ps', '-aq'])).stdout.split('\n').filter((l) => l.trim() !== '');
    if (ids.length > 0) await docker(rec, ['rm', '-f', ...ids]);
  }
  await stopProcess(rec.proc, 'SIGTERM', 20_000);
  await stopProcess(rec.containerd, 'SIGTERM', 10_000);
}

/** Binds that give a machine the engine: [host path, machine path, read-only]. */
export function dockerBinds(rec: DockerRecord): Array<[string, string, boolean]> {
  return [
    [rec.socket, MACHINE_DOCKER_SOCKET, false],
    [rec.client, '/usr/bin/docker', true],
  ];
}
