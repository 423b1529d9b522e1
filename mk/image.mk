# The container image (app/Dockerfile): build it, build the offline base, smoke-test it for real.
# See docs/deploy.md, "Container image".
IMAGE_NAME ?= event-service

.PHONY: docker-engine
docker-engine: ## Make sure a Docker engine answers (starts dockerd --storage-driver=vfs --bridge=none when none runs)
	@scripts/ensure-docker >/dev/null

.PHONY: base-image
base-image: bootstrap ## Build the offline stand-in for the pinned base image (debootstrap + the Node of .nvmrc); skipped when present
	@DOCKER="$$(scripts/ensure-docker)" scripts/offline-base-image

.PHONY: image
image: bootstrap ## Build event-service:<version> (+ :<git commit>) from app/Dockerfile; prints id and size
	@IMAGE_NAME=$(IMAGE_NAME) scripts/build-image >/dev/null

.PHONY: image-test
image-test: install image ## Build the image and smoke-test it for real (readyz, version, ingest, non-root, read-only, SIGTERM, maintenance job)
	@DOCKER="$$(scripts/ensure-docker)" $(NPX) tsx tools/image/smoke.ts $(IMAGE_NAME):$$(node -p "require('./app/package.json').version")

CI_CHECKS += image-test
