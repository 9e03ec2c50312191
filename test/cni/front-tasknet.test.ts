// tasknet's start-up front against its full bundle, over the matrix in front-cases.ts.
import { frontMatchesFullBundle } from './front-cases.js';

frontMatchesFullBundle('tasknet');
