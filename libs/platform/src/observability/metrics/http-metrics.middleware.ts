import type { NextFunction, Request, Response } from 'express';
import type { Histogram } from 'prom-client';

/**
 * Observes every request's duration, labelled by the matched route template (never the raw URL,
 * whose ids would make the label set unbounded). Unmatched paths share one label.
 */
export function httpMetricsMiddleware(histogram: Histogram<string>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const end = histogram.startTimer();
    res.once('finish', () => {
      const routePath = (req.route as { path?: unknown } | undefined)?.path;
      const route = typeof routePath === 'string' ? routePath : 'unmatched';
      end({ method: req.method, route, status_code: String(res.statusCode) });
    });
    next();
  };
}
