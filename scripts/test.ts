// Every bun test file, in two phases: most of them in parallel (one worker per core, the slowest
// started first by test/timings.json), then the few that need the machine to themselves, one after
// another. Each phase prints bun's own summary ("N pass", "N fail"); .ci/run adds them up. Exits
// non-zero if either phase failed.
//
// To refresh the timings after adding a heavy suite:
//   bun test --parallel --timings=test/timings.json --update-timings
const TIMEOUT = "--timeout=60000";

/** Files that must not share the machine with other tests, and why. */
const ALONE: Record<string, string> = {
  // Asserts a shared rate's pace in wall-clock time (1,000 messages in 20 s ± 10 %): beside the
  // browser tests its workers were starved to 24 s.
  "test/e2e/schedule-limits.test.ts": "a rate's pace on the clock",
  // Installs the package into an overlay of the live root file system and waits on a worker there.
  "test/e2e/debian-package.test.ts": "an overlay of the live root",
};

function bunTest(args: string[]): number {
  const result = Bun.spawnSync([process.execPath, "test", TIMEOUT, ...args], { stdio: ["inherit", "inherit", "inherit"] });
  return result.exitCode ?? 1;
}

const ignore = Object.keys(ALONE).map((path) => `--path-ignore-patterns=${path}`);
const parallel = bunTest(["--parallel", "--timings=test/timings.json", ...ignore]);
console.log(`\n--- alone: ${Object.entries(ALONE).map(([path, why]) => `${path} (${why})`).join(", ")}`);
const alone = bunTest(Object.keys(ALONE));
process.exit(parallel === 0 && alone === 0 ? 0 : 1);
