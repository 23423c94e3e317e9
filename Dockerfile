# NUTS in one image: the compiled CLI (sidecar included) plus the caddy binary. The default
# command is `nuts run --config /etc/nuts/Caddyfile`, the demo config of `make run`; mount your
# own Caddyfile there. docker-compose.yml runs it next to nats-server (make docker-up).
# Node 24 is the current LTS; `--build-arg NODE_IMAGE=node:22-slim` builds on the other
# supported line.
ARG NODE_IMAGE=node:24-slim
ARG CADDY_IMAGE=caddy:2.11

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are copied in.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY cli cli
COPY sidecar sidecar
COPY mercure mercure
COPY caddy caddy
RUN npm run build && npm prune --omit=dev --ignore-scripts

# The official image's caddy is a static binary, so it runs on Debian slim as it is.
FROM ${CADDY_IMAGE} AS caddy

FROM ${NODE_IMAGE}
COPY --from=caddy /usr/bin/caddy /usr/local/bin/caddy
WORKDIR /app
COPY package.json ./
COPY bin bin
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY caddy/examples/demo /srv/nuts-demo
COPY caddy/examples/demo.Caddyfile /etc/nuts/Caddyfile
ENV NATS_URL=nats://nats:4222 \
    NUTS_DEMO_ROOT=/srv/nuts-demo
USER node
EXPOSE 8080
# Run through its #! line, which carries the sidecar's Node options.
ENTRYPOINT ["/app/bin/nuts.js"]
CMD ["run", "--config", "/etc/nuts/Caddyfile"]
