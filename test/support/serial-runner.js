/**
 * Jest's default runner, but serial: the files of a project using it run one at a time, in the
 * Jest process. Jest runs the tests of each runner one runner after the other, so the fault suites
 * (project `faults`) never overlap each other nor the parallel default suites, while a single
 * `jest` invocation still ends with one combined summary line.
 */
const TestRunner = require('jest-runner').default;

class SerialRunner extends TestRunner {
  isSerial = true;
}

module.exports = SerialRunner;
