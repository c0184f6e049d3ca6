/**
 * Ends every run with one plain line, `N passed, N failed[, N skipped]`, which CI reads.
 * A run that executed no test at all fails, so a broken test glob cannot look green.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.stdout.write(
      `\n${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
    );
    if (results.numTotalTests === 0) {
      process.stdout.write('No tests ran\n');
      process.exitCode = 1;
    }
  }
}
module.exports = SummaryReporter;
