/** Metric names owned by the platform; features declare their own beside their code. */
export const HTTP_REQUEST_DURATION = 'codelab_http_request_duration_seconds';
export const ISOLATION_DENIALS = 'codelab_isolation_denials_total';
export const RATE_LIMIT_REJECTIONS = 'codelab_rate_limit_rejections_total';
export const RATE_LIMIT_STORAGE_ERRORS = 'codelab_rate_limit_storage_errors_total';
export const HTTP_CLIENT_ERRORS = 'codelab_http_client_errors_total';
