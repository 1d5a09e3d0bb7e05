# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on a minimal, non-root image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/prereg ./cmd/prereg
# The runtime image has no shell to make the store's directory: make it here
# (inside a tree copied whole below, so its owner and mode go with it).
RUN mkdir -p -m 0700 /out/root/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/prereg /usr/local/bin/prereg
# 65532 is the nonroot user and group of the distroless image. A new named
# volume on /data starts as a copy of this directory, owner included.
COPY --from=build --chown=65532:65532 /out/root/ /
# The store lives on a volume; the image listens on every interface.
ENV PREREG_ADDR=0.0.0.0:8080 \
    PREREG_DB=/data/prereg.db
VOLUME ["/data"]
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/prereg"]
CMD ["serve"]
