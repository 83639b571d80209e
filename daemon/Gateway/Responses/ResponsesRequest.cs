using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// A validated POST /v1/responses body: the fields ullmd acts on, and the body itself, whose sampling and tool fields
/// the response object echoes back. <see cref="Input"/> is the input as a list of items (a string became one user message).
/// </summary>
internal sealed record ResponsesRequest(
    JsonObject Body,
    string Model,
    JsonArray Input,
    bool Stream,
    bool? Store,
    string? PreviousResponseId,
    string? Instructions,
    JsonObject Metadata,
    long? MaxOutputTokens)
{
    public const int MaxMetadataKeys = 16;

    /// <summary>
    /// Checks every field ullmd translates, naming the first one that is wrong; with <paramref name="translating"/>
    /// false, input items only as items (a target that speaks the Responses API reads their content, and items ullmd
    /// cannot translate are kept).
    /// </summary>
    public static ResponsesRequest Parse(JsonObject body, bool translating = true)
    {
        var model = body["model"] switch
        {
            null => throw GatewayException.BadField("model", "is required"),
            var m => Json.Text(m) is { Length: > 0 } name ? name : throw GatewayException.BadField("model", "must be a non-empty string"),
        };
        var input = body["input"] switch
        {
            null => throw GatewayException.BadField("input", "is required: a string or an array of input items"),
            JsonArray items => Items(items, translating),
            var text => Json.Text(text) is { } s
                ? new JsonArray(new JsonObject { ["type"] = "message", ["role"] = "user", ["content"] = s })
                : throw GatewayException.BadField("input", "must be a string or an array of input items"),
        };
        if (body["background"] is { } background && Json.Flag(background, "background"))
        {
            throw GatewayException.BadField("background", "background responses are not supported by ullmd; leave it false");
        }

        if (Json.Text(body["truncation"]) is { } truncation && truncation != "disabled")
        {
            throw GatewayException.BadField("truncation", $"'{truncation}' is not supported: ullmd answers a chain longer than the model's context with 400 ('disabled')");
        }

        Number(body, "temperature", 0, 2);
        Number(body, "top_p", 0, 1);
        long? maxOutput = body["max_output_tokens"] is null ? null : Integer(body, "max_output_tokens", 1);
        var previous = body["previous_response_id"] switch
        {
            null => null,
            var p => Json.Text(p) is { Length: > 0 } id ? id : throw GatewayException.BadField("previous_response_id", "must be a response id (a non-empty string)"),
        };
        var instructions = body["instructions"] switch
        {
            null => null,
            var i => Json.Text(i) ?? throw GatewayException.BadField("instructions", "must be a string"),
        };
        return new ResponsesRequest(
            body,
            model,
            input,
            body["stream"] is { } stream && Json.Flag(stream, "stream"),
            body["store"] is { } store ? Json.Flag(store, "store") : null,
            previous,
            instructions,
            ParseMetadata(body["metadata"]),
            maxOutput);
    }

    /// <summary>Input items with their types checked; an item with a role and no type is a message, as OpenAI reads it.</summary>
    private static JsonArray Items(JsonArray items, bool translating)
    {
        var result = new JsonArray();
        for (var i = 0; i < items.Count; i++)
        {
            var where = $"input[{i}]";
            if (items[i] is not JsonObject item)
            {
                throw GatewayException.BadField(where, "must be an input item object");
            }

            var copy = (JsonObject)item.DeepClone();
            var type = item["type"] is null && item["role"] is not null ? "message" : Json.Text(item["type"]);
            if (!translating && type is not null)
            {
                copy["type"] = type;
                result.Add((JsonNode)copy);
                continue;
            }

            switch (type)
            {
                case "message":
                    copy["type"] = "message";
                    ResponsesTranslator.CheckMessage(copy, where);
                    break;
                case "function_call":
                    Require(item, "call_id", where);
                    Require(item, "name", where);
                    Require(item, "arguments", where);
                    break;
                case "function_call_output":
                    Require(item, "call_id", where);
                    if (item["output"] is null || (Json.Text(item["output"]) is null && item["output"] is not JsonArray))
                    {
                        throw GatewayException.BadField($"{where}.output", "must be a string");
                    }

                    break;
                case "reasoning":
                    // A reasoning model's summary from an earlier turn: chat completions has no place for it.
                    continue;
                case null:
                    throw GatewayException.BadField($"{where}.type", "is required (message, function_call or function_call_output)");
                default:
                    throw GatewayException.BadField($"{where}.type", $"input item type '{type}' is not supported (message, function_call, function_call_output)");
            }

            result.Add((JsonNode)copy);
        }

        return result;
    }

    private static void Require(JsonObject item, string field, string where)
    {
        if (Json.Text(item[field]) is null)
        {
            throw GatewayException.BadField($"{where}.{field}", "is required (a string)");
        }
    }

    private static void Number(JsonObject body, string field, double min, double max)
    {
        if (body[field] is null)
        {
            return;
        }

        if (!Json.TryNumber(body[field], out var number) || number < min || number > max)
        {
            throw GatewayException.BadField(field, $"must be a number from {min} to {max}");
        }
    }

    private static long Integer(JsonObject body, string field, long min)
    {
        if (Json.TryInteger(body[field], out var number) && number >= min)
        {
            return number;
        }

        throw GatewayException.BadField(field, $"must be an integer of at least {min}");
    }

    private static JsonObject ParseMetadata(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return [];
            case JsonObject metadata when metadata.Count <= MaxMetadataKeys:
                foreach (var (key, value) in metadata)
                {
                    if (Json.Text(value) is not { Length: <= 512 })
                    {
                        throw GatewayException.BadField($"metadata.{key}", "must be a string of at most 512 characters");
                    }
                }

                return (JsonObject)metadata.DeepClone();
            default:
                throw GatewayException.BadField("metadata", $"must be an object of at most {MaxMetadataKeys} string values");
        }
    }
}
