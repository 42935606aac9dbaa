/** The route `location.hash` names, kept current as the hash changes (parsing is in route.ts). */
import { useEffect, useState } from 'preact/hooks';
import { parseHash, type Route } from './route.js';

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parseHash(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
