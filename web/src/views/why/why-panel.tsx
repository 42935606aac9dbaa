/**
 * "Would this request get through?" on a service's page: pick the calling service and a
 * request; the control plane answers from the compiled snapshots with the proxies' own route
 * matcher and policy evaluator (GET /api/v1/why, the same answer as `trellis why`).
 */
import { useState } from 'preact/hooks';
import type { ServiceView } from '../../../../src/api/registry.js';
import type { WhyAnswer } from '../../../../src/api/why.js';
import { api } from '../../lib/api-client.js';
import { OUTCOME_LABEL, whyQuery } from './why-query.js';

export function WhyPanel({ namespace, name, services }: { namespace: string; name: string; services: readonly ServiceView[] }) {
  const callers = services.filter((s) => !(s.namespace === namespace && s.name === name));
  const [source, setSource] = useState('');
  const [method, setMethod] = useState('GET');
  const [path, setPath] = useState('/');
  const [headers, setHeaders] = useState('');
  const [answer, setAnswer] = useState<WhyAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const chosen = source !== '' ? source : callers[0] !== undefined ? `${callers[0].namespace}/${callers[0].name}` : '';

  const ask = async (): Promise<void> => {
    const q = whyQuery({ source: chosen, target: `${namespace}/${name}`, method, path, headers });
    if (!q.ok) {
      setError(q.message);
      return;
    }
    try {
      setAnswer(await api.why(q.query));
      setError(null);
    } catch (err) {
      setAnswer(null);
      setError((err as Error).message);
    }
  };

  return (
    <div class="why" data-testid="why-panel">
      <h2>Would a request get through?</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void ask();
        }}
      >
        <label>
          From
          <select data-testid="why-source" value={chosen} onChange={(e) => setSource(e.currentTarget.value)}>
            {callers.map((s) => (
              <option key={`${s.namespace}/${s.name}`} value={`${s.namespace}/${s.name}`}>
                {s.namespace}/{s.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Method
          <input data-testid="why-method" size={7} value={method} onInput={(e) => setMethod(e.currentTarget.value)} />
        </label>
        <label>
          Path
          <input data-testid="why-path" value={path} onInput={(e) => setPath(e.currentTarget.value)} />
        </label>
        <label>
          Headers (name: value per line)
          <textarea data-testid="why-headers" rows={1} value={headers} onInput={(e) => setHeaders(e.currentTarget.value)} />
        </label>
        <button type="submit" data-testid="why-ask">
          Ask
        </button>
      </form>
      {error !== null ? (
        <div class="notice notice-error" role="alert">
          {error}
        </div>
      ) : null}
      {answer !== null ? (
        <div class="notice" data-testid="why-answer" data-outcome={answer.outcome}>
          <strong>{OUTCOME_LABEL[answer.outcome]}</strong>
          <ol class="why-steps">
            {answer.explanation.map((s, i) => (
              <li key={i}>{s}</li>
            ))}
          </ol>
        </div>
      ) : null}
    </div>
  );
}
