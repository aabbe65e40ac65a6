package signer_test

// chainWallet is a wallet id for chains that no signer of these tests
// has registered. The policy chain file itself is tested with
// reserve.ParsePolicyChain, in package reserve.
const chainWallet = "4c2f8a0e91d3b675"
