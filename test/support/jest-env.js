/**
 * Runs before every test file's imports: the test-only tools (test_read, test_write, test_park,
 * test_fail) are known to agent policies in this process (the agents feature reads the flag at
 * import). Apps built by createTestApp enable them through their own config.
 */
process.env.TEST_TOOLS = 'true';
