// Loaded with `node --import` into every server the benchmark starts.
//
// 1. A server never outlives the benchmark: when its standard input (a pipe from the
//    benchmark) closes, because the benchmark exited or was killed, it gets SIGTERM
//    (the API's own graceful shutdown then runs).
// 2. With BENCH_CPU_PROFILE set (npm run bench -- --profile), the line "profile:start"
//    on standard input starts V8's CPU profiler and "profile:stop" stops it, writes the
//    profile to $BENCH_CPU_PROFILE, then creates BENCH_CPU_PROFILE + '.done'. So the
//    profile covers exactly the measured window, not startup. (Commands come on
//    standard input rather than as signals: Nest's shutdown hooks listen to SIGUSR2,
//    and SIGUSR1 belongs to Node's inspector.)
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const commands = {};
const file = process.env.BENCH_CPU_PROFILE;
if (file) {
  const session = new Session();
  session.connect();
  const post = (method, params) =>
    new Promise((resolve, reject) =>
      session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  commands['profile:start'] = async () => {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 200 });
    await post('Profiler.start');
  };
  commands['profile:stop'] = async () => {
    const { profile } = await post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    writeFileSync(`${file}.done`, '');
  };
}

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    const command = commands[line.trim()];
    if (command) {
      command().catch((e) => process.stderr.write(`child-preload: ${String(e)}\n`));
    }
  }
});
process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
