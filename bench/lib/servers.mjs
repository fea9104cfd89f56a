// Servers under test, as child processes of the benchmark: started one at a time,
// waited for until they answer, stopped (SIGTERM, then SIGKILL), and all killed when
// the benchmark exits for whatever reason (killAllServers, called by bench/run.mjs).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { root } from './database.mjs';

const running = new Set();

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** GET on loopback with a timeout: { status, body } (body parsed when JSON). */
export async function httpGet(url, headers = {}, timeoutMs = 5_000) {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body, text };
}

function tail(text, lines = 20) {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Starts `node <args>` with `env` (nothing inherited but PATH and HOME), stdout to
 * `stdoutFile` (or /dev/null), and waits until `readyUrl` answers 200 (or, for a process
 * without HTTP such as the worker, until a line of `stdoutFile` matches `readyLine`).
 */
export async function startServer({
  name,
  args,
  env,
  stdoutFile,
  readyUrl,
  readyLine,
  readyHeaders = {},
  timeoutMs = 60_000,
}) {
  const out = openSync(stdoutFile ?? '/dev/null', 'w');
  let stderr = '';
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['pipe', out, 'pipe'],
  });
  closeSync(out);
  const server = { name, child, stdoutFile, exited: null };
  running.add(server);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-8_192);
  });
  child.stdin.on('error', () => {});
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      server.exited = { code, signal };
      running.delete(server);
      resolve(server.exited);
    });
  });
  server.wait = () => exited;
  server.stderr = () => stderr;

  const describe = () => {
    const log =
      stdoutFile && stdoutFile !== '/dev/null' ? tail(readFileSync(stdoutFile, 'utf8')) : '';
    return `${name}: stderr:\n${tail(stderr)}\nstdout (${stdoutFile ?? '/dev/null'}):\n${log}`;
  };
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    if (server.exited) {
      throw new Error(
        `${name} exited during startup (${JSON.stringify(server.exited)})\n${describe()}`,
      );
    }
    if (readyLine) {
      if (readyLine.test(readFileSync(stdoutFile, 'utf8'))) return server;
      last = `no line matching ${readyLine}`;
    } else {
      try {
        const { status, body } = await httpGet(readyUrl, readyHeaders, 1_000);
        if (status === 200) return server;
        last = `${status} ${JSON.stringify(body)}`;
      } catch (e) {
        last = String(e); // not listening yet
      }
    }
    if (Date.now() > deadline) {
      await stopServer(server);
      throw new Error(
        `${name} was not ready (${readyUrl ?? readyLine}) within ${timeoutMs} ms (last: ${last ?? 'no answer'})\n${describe()}`,
      );
    }
    await sleep(100);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
export async function stopServer(server, graceMs = 10_000) {
  if (server.exited) return server.exited;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs);
  try {
    return await server.wait();
  } finally {
    clearTimeout(timer);
  }
}

/** Synchronous last resort (process 'exit' handlers cannot wait): SIGKILL every child. */
export function killAllServers() {
  for (const server of running) {
    try {
      server.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function fileSize(file) {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
