/**
 * Presets fill in the host and injector for well-known APIs, and name the placeholder variable that
 * `keygate env` sets so the agent's SDK starts without complaining about a missing key.
 */
import type { InjectorConfig } from './settings-schema.js';

export interface Preset {
  readonly name: string;
  readonly host: string;
  readonly injector: InjectorConfig;
  /** Environment variables the official SDKs read the key from; set to a placeholder. */
  readonly placeholderEnv: readonly string[];
  readonly docs: string;
}

export const PLACEHOLDER_KEY = 'keygate-placeholder';

export const PRESETS: Readonly<Record<string, Preset>> = {
  anthropic: {
    name: 'anthropic',
    host: 'api.anthropic.com',
    // Anthropic reads x-api-key; an Authorization header would be tried first by some gateways.
    injector: { type: 'api-key', name: 'x-api-key' },
    placeholderEnv: ['ANTHROPIC_API_KEY'],
    docs: 'https://docs.anthropic.com/en/api/overview#authentication',
  },
  openai: {
    name: 'openai',
    host: 'api.openai.com',
    injector: { type: 'bearer' },
    placeholderEnv: ['OPENAI_API_KEY'],
    docs: 'https://platform.openai.com/docs/api-reference/authentication',
  },
  github: {
    name: 'github',
    host: 'api.github.com',
    injector: { type: 'bearer' },
    placeholderEnv: ['GITHUB_TOKEN', 'GH_TOKEN'],
    docs: 'https://docs.github.com/en/rest/authentication/authenticating-to-the-rest-api',
  },
  'github-git': {
    name: 'github-git',
    host: 'github.com',
    // git over smart HTTP takes Basic auth, not Bearer: `x-access-token:<token>` works for
    // personal access tokens and app installation tokens alike.
    injector: { type: 'basic-user', user: 'x-access-token' },
    placeholderEnv: [],
    docs: 'https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation#about-authentication-as-a-github-app-installation',
  },
  'google-ai': {
    name: 'google-ai',
    host: 'generativelanguage.googleapis.com',
    injector: { type: 'api-key', name: 'x-goog-api-key' },
    placeholderEnv: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
    docs: 'https://ai.google.dev/api#authentication',
  },
  mistral: {
    name: 'mistral',
    host: 'api.mistral.ai',
    injector: { type: 'bearer' },
    placeholderEnv: ['MISTRAL_API_KEY'],
    docs: 'https://docs.mistral.ai/api/',
  },
  groq: {
    name: 'groq',
    host: 'api.groq.com',
    injector: { type: 'bearer' },
    placeholderEnv: ['GROQ_API_KEY'],
    docs: 'https://console.groq.com/docs/api-reference',
  },
  openrouter: {
    name: 'openrouter',
    host: 'openrouter.ai',
    injector: { type: 'bearer' },
    placeholderEnv: ['OPENROUTER_API_KEY'],
    docs: 'https://openrouter.ai/docs/api-reference/authentication',
  },
};

export function presetNamed(name: string): Preset | undefined {
  return Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
}
