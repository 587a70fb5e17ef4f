import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one structured JSON logger (level from POWERTOOLS_LOG_LEVEL). Handlers add the request id
 * and tenant id; nothing logs passwords, tokens or bound query parameters.
 */
export const logger = new Logger({ serviceName: 'octodb' });
