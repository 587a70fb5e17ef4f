import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Api, apiBase, describe, saveSession, savedSession, type Session } from './api.ts';
import { Console } from './console.tsx';
import { ErrorLine } from './ui.tsx';
import './style.css';

function App() {
  const [base, setBase] = useState<string>();
  const [session, setSession] = useState(savedSession);
  useEffect(() => void apiBase().then(setBase), []);
  if (!base) return <p class="loading">Loading...</p>;
  const signIn = (next: Session | undefined) => {
    saveSession(next);
    setSession(next);
  };
  if (!session) return <Auth api={new Api(base)} onSession={signIn} />;
  return <Console api={new Api(base, session.token, () => signIn(undefined))} email={session.email} onSignOut={() => signIn(undefined)} />;
}

type Mode = 'signin' | 'signup' | 'verify';

/** Sign up (then verify, when the API asks for the emailed code) and sign in: each ends with a token from POST /token. */
function Auth({ api, onSession }: { api: Api; onSession(session: Session): void }) {
  const [mode, setMode] = useState<Mode>('signup');
  const [form, setForm] = useState({ name: '', email: '', password: '', code: '' });
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const field = (name: keyof typeof form) => ({
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value }),
  });
  const tokenFor = async () => {
    const { token } = await api.call<{ token: string }>('/token', { email: form.email, password: form.password });
    onSession({ token, email: form.email.trim().toLowerCase() });
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (mode === 'signup') {
        const { status } = await api.call<{ status: string }>('/signup', { name: form.name, email: form.email, password: form.password });
        if (status === 'unverified') return setMode('verify');
      } else if (mode === 'verify') {
        await api.call('/verify', { email: form.email, code: form.code });
      }
      await tokenFor();
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };
  const titles: Record<Mode, string> = { signup: 'Create an account', signin: 'Sign in', verify: 'Enter the code we emailed you' };
  return (
    <main class="auth">
      <h1>OctoDB</h1>
      <form onSubmit={submit} aria-label={titles[mode]}>
        <h2>{titles[mode]}</h2>
        {mode === 'signup' && (
          <label>
            Name <input name="name" autocomplete="name" required {...field('name')} />
          </label>
        )}
        {mode !== 'verify' && (
          <>
            <label>
              Email <input name="email" type="email" autocomplete="username" required {...field('email')} />
            </label>
            <label>
              Password <input name="password" type="password" autocomplete={mode === 'signup' ? 'new-password' : 'current-password'} required minLength={8} {...field('password')} />
            </label>
          </>
        )}
        {mode === 'verify' && (
          <label>
            Code <input name="code" inputMode="numeric" pattern="[0-9]{8}" required {...field('code')} />
          </label>
        )}
        <button type="submit" disabled={busy}>
          {mode === 'signin' ? 'Sign in' : mode === 'signup' ? 'Sign up' : 'Verify'}
        </button>
        <ErrorLine error={error} />
      </form>
      {mode !== 'verify' && (
        <button type="button" class="link" onClick={() => setMode(mode === 'signin' ? 'signup' : 'signin')}>
          {mode === 'signin' ? 'New here? Create an account' : 'Have an account? Sign in'}
        </button>
      )}
    </main>
  );
}

render(<App />, document.getElementById('app')!);
