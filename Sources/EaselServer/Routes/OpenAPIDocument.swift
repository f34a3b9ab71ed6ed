import Foundation

/// The OpenAPI 3 description of the API as Easel serves it (Leap's routes and shapes plus
/// Easel's additions), written by hand. `{{...}}` markers are filled with this server's
/// base URL and limits when served.
enum OpenAPIDocument {
    static func json(serverURL: String, limits: ServerLimits) -> String {
        template
            .replacingOccurrences(of: "{{serverURL}}", with: serverURL)
            .replacingOccurrences(of: "{{maxSteps}}", with: "\(limits.maxSteps)")
            .replacingOccurrences(of: "{{maxPromptLength}}", with: "\(limits.maxPromptLength)")
            .replacingOccurrences(of: "{{maxPixelsPerImage}}", with: "\(limits.maxPixelsPerImage)")
            .replacingOccurrences(of: "{{maxPixelsPerJob}}", with: "\(limits.maxPixelsPerJob)")
            .replacingOccurrences(of: "{{maxPageSize}}", with: "\(limits.maxPageSize)")
            .replacingOccurrences(of: "{{maxInitImageBytes}}", with: "\(limits.maxInitImageBytes)")
    }

    static let template = #"""
        {
          "openapi": "3.0.3",
          "info": {
            "title": "Easel",
            "description": "Self-hosted image generation speaking Leap's Images API (The Official Leap API 1.0). Every /api route needs `Authorization: Bearer <key>`; errors are `{statusCode, message, error}`.",
            "version": "1.0"
          },
          "servers": [{"url": "{{serverURL}}"}],
          "security": [{"bearer": []}],
          "paths": {
            "/api/v1/images/models/{modelId}/inferences": {
              "parameters": [{"$ref": "#/components/parameters/modelId"}],
              "post": {
                "tags": ["Images"], "summary": "Generate an Image", "operationId": "InferencesController_generate",
                "description": "Queues a job and returns it at once in state `queued`. A repeated `Idempotency-Key` (same workspace, 24 hours) returns the first job with `Idempotent-Replayed: true`.",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateInferenceDto"}}}},
                "responses": {
                  "201": {"description": "Job queued (or the first job of a repeated Idempotency-Key).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceEntity"}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "422": {"description": "Idempotency-Key reused with a different request.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "429": {"description": "Too many jobs waiting for this workspace.", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
              },
              "get": {
                "tags": ["Images"], "summary": "List All Image Jobs", "operationId": "InferencesController_listAll",
                "description": "This workspace's jobs for the model, newest first.",
                "parameters": [
                  {"name": "onlyFinished", "in": "query", "required": false, "schema": {"type": "boolean"}},
                  {"name": "page", "in": "query", "required": false, "allowEmptyValue": true, "schema": {"type": "number", "minimum": 1, "default": 1}},
                  {"name": "pageSize", "in": "query", "required": false, "allowEmptyValue": true, "schema": {"type": "number", "minimum": 1, "maximum": {{maxPageSize}}, "default": 10}}
                ],
                "responses": {
                  "200": {"description": "Jobs.", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/InferenceEntity"}}}}},
                  "400": {"$ref": "#/components/responses/BadRequest"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"}
                }
              }
            },
            "/api/v1/images/models/{modelId}/inferences/{inferenceId}": {
              "parameters": [{"$ref": "#/components/parameters/modelId"}, {"$ref": "#/components/parameters/inferenceId"}],
              "get": {
                "tags": ["Images"], "summary": "Get Single Image Job", "operationId": "InferencesController_findOne",
                "responses": {
                  "200": {"description": "The job.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceEntity"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              },
              "delete": {
                "tags": ["Images"], "summary": "Delete Image Job", "operationId": "InferencesController_delete",
                "description": "Deletes the job and its image files (their URIs answer 404 afterwards). A running job is stopped.",
                "responses": {
                  "200": {"description": "Deleted; the body is the job as it was.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceEntity"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/api/v1/images/models/{modelId}/inferences/{inferenceId}/cancel": {
              "parameters": [{"$ref": "#/components/parameters/modelId"}, {"$ref": "#/components/parameters/inferenceId"}],
              "post": {
                "tags": ["Easel"], "summary": "Cancel a job", "operationId": "Easel_cancel",
                "description": "A queued job ends `failed` with `errorReason: cancelled` at once (200); a running one stops at its next step (202, `cancelRequested: true`). Cancelling a cancelled job is 200; a job that ended otherwise is 409.",
                "responses": {
                  "200": {"description": "Cancelled.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceEntity"}}}},
                  "202": {"description": "Stopping at the next step.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceEntity"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"},
                  "404": {"$ref": "#/components/responses/NotFound"},
                  "409": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/api/v1/images/models/{modelId}/inferences/{inferenceId}/events": {
              "parameters": [{"$ref": "#/components/parameters/modelId"}, {"$ref": "#/components/parameters/inferenceId"}],
              "get": {
                "tags": ["Easel"], "summary": "Follow a job (Server-Sent Events)", "operationId": "Easel_events",
                "description": "`event: state` carries the job entity (first the current one, then each change; the last event is the final state). `event: step` carries `{id, step, totalSteps}` after every step, in order. `event: preview` carries `{id, step, uri}` when a new live preview is stored (every few steps). `event: deleted` ends the stream if the job is deleted.",
                "responses": {
                  "200": {"description": "An event stream until the job ends.", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/api/v1/images/models/{modelId}/inferences/{inferenceId}/preview.png": {
              "parameters": [{"$ref": "#/components/parameters/modelId"}, {"$ref": "#/components/parameters/inferenceId"}],
              "get": {
                "tags": ["Easel"], "summary": "A running job's latest live preview", "operationId": "Easel_preview",
                "description": "A small PNG of the first image so far (the model's tiny autoencoder's picture when it has one, else a latent-size linear projection), renewed every few steps; the step it shows is in the `Easel-Preview-Step` header. 404 when the job is not running or has no preview yet.",
                "responses": {
                  "200": {"description": "The preview.", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/api/v1/images/models/{modelId}/inferences/{inferenceId}/webhooks": {
              "parameters": [{"$ref": "#/components/parameters/modelId"}, {"$ref": "#/components/parameters/inferenceId"}],
              "get": {
                "tags": ["Easel"], "summary": "A job's webhook deliveries", "operationId": "Easel_webhookDeliveries",
                "description": "Easel addition: the deliveries of the job's `webhookUrl` and every attempt (time, HTTP status code or error, duration), so a workspace can see what its receiver got. Deliveries go with their job when it is deleted, and are pruned some days after they ended (the operator's retention). The signing secret is shown by the operator's `easel keys webhook-secret --workspace NAME`.",
                "responses": {
                  "200": {"description": "The deliveries (empty when the job has no webhook or has not ended).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookDeliveries"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/api/v2/images/models": {
              "get": {
                "tags": ["Image Models"], "summary": "List All Models", "operationId": "TrainImageModels_listAllModels",
                "description": "Public models (installed by the operator) and this workspace's own.",
                "responses": {
                  "200": {"description": "Models.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ListModelsV2Response"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"}
                }
              }
            },
            "/api/v2/images/models/new": {
              "post": {
                "tags": ["Image Models"], "summary": "Train Model (not supported)", "operationId": "TrainImageModels_trainModel",
                "description": "Easel installs checkpoints with `easel models add` instead of training.",
                "responses": {"501": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "503": {"$ref": "#/components/responses/Unavailable"}}
              }
            },
            "/api/v2/images/models/{modelId}": {
              "parameters": [{"$ref": "#/components/parameters/modelId"}],
              "get": {
                "tags": ["Image Models"], "summary": "Get a Single Model", "operationId": "TrainImageModels_getModel",
                "responses": {
                  "200": {"description": "The model.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelV2Entity"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              },
              "delete": {
                "tags": ["Image Models"], "summary": "Delete a Model", "operationId": "TrainImageModels_deleteModel",
                "description": "Only a workspace's own model; public models answer 403.",
                "responses": {
                  "200": {"description": "Deleted.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelV2Entity"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "503": {"$ref": "#/components/responses/Unavailable"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/NotFound"}
                }
              }
            },
            "/images/{fileName}": {
              "get": {
                "tags": ["Easel"], "summary": "A generated image", "operationId": "Easel_image", "security": [],
                "description": "The random id in the URI is the capability; a request that carries a key must own the image.",
                "parameters": [{"name": "fileName", "in": "path", "required": true, "schema": {"type": "string", "example": "3f2a9c0d5e8b4a7f9c1d2e3f4a5b6c7d.png"}}],
                "responses": {"200": {"description": "PNG.", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}, "404": {"$ref": "#/components/responses/NotFound"}, "503": {"$ref": "#/components/responses/Unavailable"}}
              }
            },
            "/health": {
              "get": {
                "tags": ["Easel"], "summary": "Health", "operationId": "Easel_health", "security": [],
                "responses": {"200": {"description": "Accepting requests.", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"type": "string"}, "queued": {"type": "integer"}}}}}}, "503": {"$ref": "#/components/responses/Unavailable"}}
              }
            },
            "/openapi.json": {
              "get": {
                "tags": ["Easel"], "summary": "This document", "operationId": "Easel_openapi", "security": [],
                "responses": {"200": {"description": "OpenAPI 3 document.", "content": {"application/json": {"schema": {"type": "object"}}}}}
              }
            },
            "/": {
              "get": {
                "tags": ["Easel"], "summary": "The playground", "operationId": "Easel_playground", "security": [],
                "description": "A page (with /playground/app.js, /playground/style.css, /playground/icon.svg) that uses the routes here with the key its user types. Strict Content-Security-Policy: this origin only, nothing inline.",
                "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}}}
              }
            },
            "/v1/images/generations": {
              "post": {
                "tags": ["OpenAI"], "summary": "Create image (OpenAI Images API)", "operationId": "OpenAI_createImage",
                "description": "OpenAI's Images API over the same queue: the generation is an ordinary Leap job (it shows in the Leap list, same image files; its id is in the `Easel-Inference-Id` header) and the request waits for it to end. A client that disconnects cancels the job. Leap's rules apply, named by the OpenAI parameter. Errors are OpenAI-shaped.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAICreateImageRequest"}}}},
                "responses": {
                  "200": {"description": "The images.", "headers": {"Easel-Inference-Id": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIImagesResponse"}}}},
                  "400": {"$ref": "#/components/responses/OpenAIError"},
                  "401": {"$ref": "#/components/responses/OpenAIError"},
                  "503": {"$ref": "#/components/responses/OpenAIUnavailable"},
                  "404": {"$ref": "#/components/responses/OpenAIError"},
                  "429": {"description": "Too many jobs waiting for this workspace.", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}},
                  "500": {"description": "The job failed (`code`: `generation_failed`, or `cancelled`).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}}
                }
              }
            },
            "/v1/models": {
              "get": {
                "tags": ["OpenAI"], "summary": "List models (OpenAI)", "operationId": "OpenAI_listModels",
                "responses": {
                  "200": {"description": "Public models and the workspace's own.", "content": {"application/json": {"schema": {"type": "object", "required": ["object", "data"], "properties": {"object": {"type": "string", "enum": ["list"]}, "data": {"type": "array", "items": {"$ref": "#/components/schemas/OpenAIModel"}}}}}}},
                  "401": {"$ref": "#/components/responses/OpenAIError"},
                  "503": {"$ref": "#/components/responses/OpenAIUnavailable"}
                }
              }
            },
            "/v1/models/{model}": {
              "get": {
                "tags": ["OpenAI"], "summary": "Retrieve a model (OpenAI)", "operationId": "OpenAI_retrieveModel",
                "parameters": [{"name": "model", "in": "path", "required": true, "schema": {"type": "string"}, "description": "Model id or name."}],
                "responses": {
                  "200": {"description": "The model.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIModel"}}}},
                  "401": {"$ref": "#/components/responses/OpenAIError"},
                  "503": {"$ref": "#/components/responses/OpenAIUnavailable"},
                  "404": {"$ref": "#/components/responses/OpenAIError"}
                }
              }
            }
          },
          "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An Easel key (`easel keys create --workspace NAME`)."}},
            "parameters": {
              "modelId": {"name": "modelId", "in": "path", "required": true, "schema": {"type": "string"}},
              "inferenceId": {"name": "inferenceId", "in": "path", "required": true, "schema": {"type": "string"}}
            },
            "responses": {
              "BadRequest": {"description": "Every problem with the request, at once; nothing was stored.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}, "example": {"statusCode": 400, "message": ["width must be a multiple of 8"], "error": "Bad Request"}}}},
              "Unauthorized": {"description": "Missing, unknown or revoked key.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "NotFound": {"description": "No such resource in this workspace.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "Error": {"description": "Error.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "Unavailable": {"description": "The database could not be reached in time (down, restarting, or the network to it cut); nothing was changed. Retry after the given seconds.", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}, "example": {"statusCode": 503, "message": "Database unavailable (no answer within 2.0 seconds); retry shortly", "error": "Service Unavailable"}}}},
              "OpenAIUnavailable": {"description": "The database could not be reached in time, in OpenAI's shape; retry after the given seconds.", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}},
              "OpenAIError": {"description": "Error in OpenAI's shape.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}, "example": {"error": {"message": "n must not be greater than 4", "type": "invalid_request_error", "param": "n", "code": null}}}}}
            },
            "schemas": {
              "Error": {
                "type": "object", "required": ["statusCode", "message", "error"],
                "properties": {
                  "statusCode": {"type": "integer"},
                  "message": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                  "error": {"type": "string"}
                }
              },
              "CreateInferenceDto": {
                "type": "object", "required": ["prompt"],
                "properties": {
                  "prompt": {"type": "string", "minLength": 1, "maxLength": {{maxPromptLength}}},
                  "negativePrompt": {"type": "string", "default": "asymmetric, watermarks", "maxLength": {{maxPromptLength}}},
                  "steps": {"type": "number", "default": 50, "minimum": 1, "maximum": {{maxSteps}}, "description": "Integer."},
                  "width": {"type": "number", "default": 1024, "minimum": 64, "multipleOf": 8, "description": "width x height at most {{maxPixelsPerImage}} pixels; width x height x numberOfImages at most {{maxPixelsPerJob}}."},
                  "height": {"type": "number", "default": 1024, "minimum": 64, "multipleOf": 8},
                  "numberOfImages": {"type": "number", "default": 1, "minimum": 1, "maximum": 4},
                  "promptStrength": {"type": "number", "default": 7, "minimum": 0, "maximum": 30, "description": "Classifier-free guidance scale."},
                  "seed": {"type": "number", "default": 4523184, "minimum": 0, "maximum": 9007199254740991, "description": "Integer; same seed, same image."},
                  "webhookUrl": {"type": "string", "description": "POSTed the job entity when it ends; signed with Standard Webhooks headers, retried with backoff; addresses that are not globally routable (IANA special-purpose blocks, numeric forms included) are refused unless the operator allows them."},
                  "initImage": {"type": "string", "description": "Easel addition, image to image (diffusers' StableDiffusionImg2ImgPipeline): a PNG or JPEG as base64 or a data: URL (data:image/png;base64,...), at most {{maxInitImageBytes}} bytes and {{maxPixelsPerImage}} pixels, width and height multiples of 8 and at least 64. Its size is the job's when width and height are left out; given, they must match it. Not resized."},
                  "strength": {"type": "number", "default": 0.8, "exclusiveMinimum": 0, "maximum": 1, "description": "Easel addition, only with initImage: the fraction of the steps run from the noised init image (steps x strength must be at least 1); 1 almost ignores the image."}
                }
              },
              "InferenceImageEntity": {
                "type": "object", "required": ["id", "createdAt", "uri"],
                "properties": {"id": {"type": "string"}, "createdAt": {"type": "string"}, "uri": {"type": "string"}}
              },
              "InferenceEntity": {
                "type": "object",
                "required": ["id", "createdAt", "prompt", "negativePrompt", "seed", "width", "height", "promptStrength", "numberOfImages", "state", "status", "steps", "images", "modelId", "upscalingOption"],
                "properties": {
                  "id": {"type": "string"},
                  "createdAt": {"type": "string", "format": "date-time"},
                  "prompt": {"type": "string"},
                  "negativePrompt": {"type": "string"},
                  "seed": {"type": "number"},
                  "width": {"type": "number"},
                  "height": {"type": "number"},
                  "promptStrength": {"type": "number"},
                  "numberOfImages": {"type": "number"},
                  "state": {"type": "string", "enum": ["queued", "processing", "finished", "failed"]},
                  "status": {"type": "string", "enum": ["queued", "processing", "finished", "failed"]},
                  "steps": {"type": "number"},
                  "images": {"type": "array", "items": {"$ref": "#/components/schemas/InferenceImageEntity"}},
                  "modelId": {"type": "string"},
                  "upscalingOption": {"type": "string", "enum": ["x1", "x2", "x4"]},
                  "queuePosition": {"type": "integer", "description": "Easel: 1-based place in the queue (queued)."},
                  "currentStep": {"type": "integer", "description": "Easel: last completed step (processing)."},
                  "totalSteps": {"type": "integer", "description": "Easel: steps of this job (processing)."},
                  "estimatedSecondsLeft": {"type": "number", "description": "Easel: from measured step times."},
                  "cancelRequested": {"type": "boolean", "description": "Easel: the job stops at its next step."},
                  "strength": {"type": "number", "description": "Easel: image to image, the job's strength (the init image is not echoed)."},
                  "errorReason": {"type": "string", "description": "Easel: why it failed (`cancelled` when cancelled)."},
                  "startedAt": {"type": "string", "format": "date-time"},
                  "finishedAt": {"type": "string", "format": "date-time"},
                  "timings": {
                    "type": "object", "description": "Easel: seconds spent (ended jobs).",
                    "properties": {"queuedSeconds": {"type": "number"}, "warmupSeconds": {"type": "number"}, "secondsPerStep": {"type": "number"}, "generationSeconds": {"type": "number"}, "totalSeconds": {"type": "number"}}
                  },
                  "preview": {
                    "type": "object", "description": "Easel: the latest live preview (processing), fetched with the key.",
                    "properties": {"step": {"type": "integer"}, "uri": {"type": "string"}}
                  }
                }
              },
              "ModelV2Entity": {
                "type": "object", "required": ["id", "name", "createdAt", "subjectKeyword", "subjectType", "status", "imageSamples"],
                "properties": {
                  "id": {"type": "string"}, "name": {"type": "string"}, "createdAt": {"type": "string"},
                  "subjectKeyword": {"type": "string"}, "subjectType": {"type": "string"}, "status": {"type": "string"},
                  "imageSamples": {"type": "array", "items": {"type": "string"}},
                  "format": {"type": "string", "enum": ["diffusers", "single-file"]},
                  "visibility": {"type": "string", "enum": ["public", "workspace"]},
                  "defaults": {
                    "type": "object", "description": "Easel: what a request that leaves a field out gets: the model's recipe (easel models add --steps/--guidance/--width/--height), else its native size and Leap's defaults.",
                    "properties": {"negativePrompt": {"type": "string"}, "steps": {"type": "integer"}, "width": {"type": "integer"}, "height": {"type": "integer"}, "numberOfImages": {"type": "integer"}, "promptStrength": {"type": "number"}, "seed": {"type": "integer"}}
                  },
                  "nativeSize": {
                    "type": "object", "description": "Easel: the size the model was trained at, when known.",
                    "properties": {"width": {"type": "integer"}, "height": {"type": "integer"}}
                  },
                  "base": {"type": "string", "description": "Easel: the checkpoint the model was installed from."},
                  "loras": {"type": "array", "description": "Easel: LoRAs fused into the base, with their scales.", "items": {"type": "object", "properties": {"name": {"type": "string"}, "scale": {"type": "number"}}}},
                  "tinyAutoencoder": {"type": "string", "description": "Easel: the tiny autoencoder (TAESD) the model decodes with."},
                  "scheduler": {"type": "string", "description": "Easel: the scheduler its jobs run with (absent: the checkpoint's own)."}
                }
              },
              "OpenAICreateImageRequest": {
                "type": "object", "required": ["model", "prompt"],
                "properties": {
                  "model": {"type": "string", "description": "An Easel model id or name (GET /v1/models)."},
                  "prompt": {"type": "string", "minLength": 1, "maxLength": {{maxPromptLength}}},
                  "n": {"type": "integer", "default": 1, "minimum": 1, "maximum": 4},
                  "size": {"type": "string", "pattern": "^[0-9]+x[0-9]+$", "description": "WIDTHxHEIGHT, each a multiple of 8 and at least 64; `auto` or absent for the model's default (its recipe's size, else its native size, else 1024x1024). At most {{maxPixelsPerImage}} pixels per image."},
                  "response_format": {"type": "string", "enum": ["url", "b64_json"], "default": "url"},
                  "negative_prompt": {"type": "string", "default": "asymmetric, watermarks", "description": "Easel addition."},
                  "steps": {"type": "integer", "default": 50, "minimum": 1, "maximum": {{maxSteps}}, "description": "Easel addition."},
                  "seed": {"type": "integer", "default": 4523184, "minimum": 0, "maximum": 9007199254740991, "description": "Easel addition."},
                  "guidance_scale": {"type": "number", "default": 7, "minimum": 0, "maximum": 30, "description": "Easel addition: Leap's promptStrength."}
                }
              },
              "OpenAIImagesResponse": {
                "type": "object", "required": ["created", "data"],
                "properties": {
                  "created": {"type": "integer", "description": "Unix seconds (the job's creation)."},
                  "data": {"type": "array", "items": {"type": "object", "properties": {"b64_json": {"type": "string"}, "url": {"type": "string"}, "revised_prompt": {"type": "string"}}}}
                }
              },
              "OpenAIModel": {
                "type": "object", "required": ["id", "object", "created", "owned_by"],
                "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["model"]}, "created": {"type": "integer"}, "owned_by": {"type": "string"}, "name": {"type": "string", "description": "Easel: the installed name."}}
              },
              "OpenAIError": {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": "string", "nullable": true}, "code": {"type": "string", "nullable": true}}}}
              },
              "WebhookDeliveries": {
                "type": "object", "required": ["deliveries"], "description": "Easel addition.",
                "properties": {"deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookDelivery"}}}
              },
              "WebhookDelivery": {
                "type": "object", "required": ["id", "url", "state", "createdAt", "attempts"],
                "properties": {
                  "id": {"type": "string", "description": "Also the `webhook-id` header of every attempt."},
                  "url": {"type": "string"},
                  "state": {"type": "string", "enum": ["pending", "delivered", "failed", "refused"], "description": "`refused`: the address is not globally routable (or not an http(s) URL)."},
                  "createdAt": {"type": "string", "format": "date-time"},
                  "nextAttemptAt": {"type": "string", "format": "date-time", "description": "Pending deliveries only."},
                  "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookAttempt"}}
                }
              },
              "WebhookAttempt": {
                "type": "object", "required": ["number", "at", "statusCode", "error", "durationMs"],
                "properties": {
                  "number": {"type": "integer", "minimum": 1},
                  "at": {"type": "string", "format": "date-time"},
                  "statusCode": {"type": "integer", "nullable": true, "description": "The receiver's HTTP status; null when it did not answer."},
                  "error": {"type": "string", "nullable": true, "description": "Why the attempt failed; null when it succeeded."},
                  "durationMs": {"type": "number"}
                }
              },
              "ListModelsV2Response": {
                "type": "object", "required": ["models"],
                "properties": {"models": {"type": "array", "items": {"$ref": "#/components/schemas/ModelV2Entity"}}}
              }
            }
          }
        }
        """#
}
