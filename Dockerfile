# syntax=docker/dockerfile:1
# device-flow-sidecar: multi-stage build on Node 24 LTS; the final image holds the built sidecar
# and production dependencies only, and runs as the unprivileged `node` user.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY schemas ./schemas
COPY src ./src
COPY demo ./demo
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    SIDECAR_CONFIG=/etc/device-flow-sidecar/sidecar.yaml
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/schemas ./dist/schemas
COPY package.json LICENSE ./
# mount your configuration at /etc/device-flow-sidecar/sidecar.yaml (secrets by ${VAR} or
# { file: PATH }): config/production.example.yaml is one, run by README.md's Docker section;
# or mount it elsewhere and set SIDECAR_CONFIG, as deploy/kubernetes/ does
USER node
# 8080: the sidecar (server.port); 9464: metrics and the admin API (admin.port, loopback by default)
EXPOSE 8080 9464
# liveness on the default server.port; change the port here if your config changes it
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/main.js"]
