// Preloaded into every test file by scripts/test.sh (`node --test --import`).
//
// Why not `--test-force-exit`: with it, Node 20's runner can exit a test file's process
// before the file's last verdicts reach the parent (nodejs/node#64833), so the run reports
// fewer tests and `fail 0` even when the lost ones failed. Without it, a file that leaves a
// server, socket, child process or timer open never exits and stalls the run.
//
// So every file must release what it opened. This guard turns a file that does not into a
// failure with the names of what is still open, after its verdicts have long been written,
// instead of a hang or a silent loss.
//
// The grace starts when the file's root `after` hooks start (this one is registered first, and
// they run in order), so it must also cover the file's own root-level cleanup (stopping a
// freeradius, say): hence a long one. A file that releases everything exits at once anyway; one
// that leaks costs the grace and fails.
import { after } from 'node:test';

const graceMs = Number(process.env.SSLGATE_TEST_EXIT_GRACE_MS ?? 60_000);

after(() => {
  const timer = setTimeout(() => {
    // stdin/stdout/stderr pipes and the runner's own handles are expected; the rest leaked.
    const open = process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap');
    process.stderr.write(
      `exit-guard: this test file's tests are done but its process is still held open ` +
        `${graceMs} ms later by: ${open.join(', ') || '(pipes only)'}; close them in the test's cleanup\n`,
    );
    process.exit(1);
  }, graceMs);
  // Unreferenced: a file that released everything exits at once without waiting for this.
  timer.unref();
});
