/**
 * The fake 1Password for in-process tests. It is test/fixtures/fake-onepassword.mjs itself (plain
 * JavaScript, so a `keygate serve` child loads the same code through fake-op-module.mjs); this
 * file only gives it its types.
 */
export {
  FakeOnePassword,
  FakeOpClient,
  fakeToken,
  SDK_RECORDINGS,
  sdkDesktopError,
  sdkSignInError,
  sdkTokenError,
} from '../fixtures/fake-onepassword.mjs';
export type {
  FakeField,
  FakeItem,
  FakeState,
  FakeVault,
  NewItem,
  RecordedSignIn,
  SdkRecording,
} from '../fixtures/fake-onepassword.mjs';
