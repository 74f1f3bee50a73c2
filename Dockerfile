# syntax=docker/dockerfile:1
# DocFusionDB: a PostgreSQL wire-protocol proxy. Multi-stage build; runs as a non-root user.
#
# Environment (see README "Configuration"):
#   DATABASE_URL           upstream Postgres (unset: an embedded Postgres in DOCFUSION_DATA_DIR)
#   DOCFUSION_LISTEN       wire listener, default here 0.0.0.0:6432
#   DOCFUSION_HTTP_LISTEN  health (and later metrics/API), default here 0.0.0.0:8080
#   DOCFUSION_DATA_DIR     state and the embedded cluster, default here /data (a volume)
#   DOCFUSION_AUTH         trust | password | md5 | scram-sha-256 (default)
#   DOCFUSION_PASSWORD     password of the embedded cluster's docfusion user
#   DOCFUSION_CONFIG       YAML config file
#   DOCFUSION_LOG_LEVEL    fatal | error | warn | info | debug | trace | silent

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY protocol ./protocol
COPY planner ./planner
COPY udf ./udf
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    DOCFUSION_LISTEN=0.0.0.0:6432 \
    DOCFUSION_HTTP_LISTEN=0.0.0.0:8080 \
    DOCFUSION_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 6432 8080
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/cli.js"]
