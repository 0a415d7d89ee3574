# Pulse Auth in a container: `docker build -t pulse-auth .`, then
#   docker run -p 3000:3000 -v pulse-auth-data:/data -e PUBLIC_URL=https://auth.example.com \
#     -e SMTP_URL_FILE=/run/secrets/smtp-url -e METRICS_TOKEN_FILE=/run/secrets/metrics-token \
#     -e WEBHOOK_SECRET_KEY_FILE=/run/secrets/webhook-secret-key pulse-auth
# (README, "Deploying"). No base image can be pulled on the machines this is developed on, so it is not built
# there: test/unit/deploy-files.test.ts checks what can be checked (pinned base image, stages, non-root user,
# volume, health check, `node` as the command), and .ci/prove-build runs the same build and install steps.

# The build: every dependency, `npm run build` (dist/ and build/docs.html).
FROM node:22.23.5-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# The runtime: production dependencies and the built output only (no tsx, no TypeScript, no sources).
FROM node:22.23.5-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=file:/data/pulse-auth.sqlite
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/build ./build
COPY --from=build /app/bin ./bin
COPY --from=build /app/openapi/openapi.yaml ./openapi/openapi.yaml
# The SQLite file (when DATABASE_URL is not PostgreSQL) lives in the volume; the application folder stays read-only.
RUN mkdir /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself as PID 1's command (no npm, no shell): SIGTERM from `docker stop` reaches the server, which drains.
STOPSIGNAL SIGTERM
CMD ["node", "--heap-growing-percent=50", "dist/server.js"]
