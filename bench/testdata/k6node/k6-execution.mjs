// Stand-in for k6/execution.
export default { scenario: { iterationInTest: 0 } };
