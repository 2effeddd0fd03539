# One image for every boxoffice subcommand (gateway, writer, migrate, seed,
# bench): docker run boxoffice:dev gateway.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static binary: the runtime image has no libc to link against.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /boxoffice ./cmd/boxoffice

# Alpine rather than distroless: busybox wget is what the compose health
# checks call (/readyz, /healthz), at 8 MB.
FROM alpine:3.22
RUN adduser -D -H -u 10001 boxoffice
COPY --from=build /boxoffice /usr/local/bin/boxoffice
USER boxoffice
# 8080: gateway HTTP and /metrics; 9091: writer /metrics and /healthz.
EXPOSE 8080 9091
ENTRYPOINT ["boxoffice"]
CMD ["help"]
