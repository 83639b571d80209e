using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// One response being made: its id and creation time, and the request whose settings the response object echoes.
/// Builds the response object (OpenAI's <c>response</c>) in any state, and turns a chat completion's parts into its
/// output items, status and usage.
/// </summary>
internal sealed class ResponseDraft(string id, DateTimeOffset createdAt, ResponsesRequest request, bool store)
{
    public string Id { get; } = id;

    public DateTimeOffset CreatedAt { get; } = createdAt;

    public ResponsesRequest Request { get; } = request;

    public bool Store { get; } = store;

    /// <summary>An output item's id, unique within the response and across responses (it carries the response's).</summary>
    public string ItemId(string prefix, int outputIndex) => $"{prefix}_{Id["resp_".Length..]}_{outputIndex}";

    public JsonObject Build(string status, JsonArray output, JsonObject? usage, string? incompleteReason = null, GatewayException? error = null)
    {
        var body = Request.Body;
        return new JsonObject
        {
            ["id"] = Id,
            ["object"] = "response",
            ["created_at"] = CreatedAt.ToUnixTimeSeconds(),
            ["status"] = status,
            ["error"] = error is null ? null : new JsonObject { ["code"] = error.Code ?? "server_error", ["message"] = error.Message },
            ["incomplete_details"] = incompleteReason is null ? null : new JsonObject { ["reason"] = incompleteReason },
            ["instructions"] = Request.Instructions,
            ["max_output_tokens"] = Request.MaxOutputTokens,
            ["model"] = Request.Model,
            ["output"] = output,
            ["parallel_tool_calls"] = body["parallel_tool_calls"]?.DeepClone() ?? true,
            ["previous_response_id"] = Request.PreviousResponseId,
            ["store"] = Store,
            ["temperature"] = body["temperature"]?.DeepClone() ?? 1.0,
            ["text"] = body["text"]?.DeepClone() ?? new JsonObject { ["format"] = new JsonObject { ["type"] = "text" } },
            ["tool_choice"] = body["tool_choice"]?.DeepClone() ?? "auto",
            ["tools"] = body["tools"]?.DeepClone() ?? new JsonArray(),
            ["top_p"] = body["top_p"]?.DeepClone() ?? 1.0,
            ["truncation"] = "disabled",
            ["usage"] = usage,
            ["user"] = body["user"]?.DeepClone(),
            ["metadata"] = Request.Metadata.DeepClone(),
        };
    }

    /// <summary>A finished chat completion → the response object (completed, or incomplete when the token limit cut it short).</summary>
    public JsonObject FromCompletion(JsonNode completion)
    {
        var choice = completion["choices"]?[0];
        var message = choice?["message"];
        var output = new JsonArray();
        if (Json.Text(message?["content"]) is { Length: > 0 } text)
        {
            output.Add((JsonNode)MessageItem(ItemId("msg", output.Count), text, "completed"));
        }

        foreach (var call in message?["tool_calls"]?.AsArray() ?? [])
        {
            output.Add((JsonNode)FunctionCallItem(
                ItemId("fc", output.Count), Json.Text(call?["id"]) ?? ItemId("call", output.Count), Json.Text(call?["function"]?["name"]) ?? "",
                Json.Text(call?["function"]?["arguments"]) ?? "", "completed"));
        }

        var incomplete = IncompleteReason(Json.Text(choice?["finish_reason"]));
        return Build(incomplete is null ? "completed" : "incomplete", output, Usage(completion["usage"]), incomplete);
    }

    public static JsonObject MessageItem(string id, string text, string status) => new()
    {
        ["id"] = id,
        ["type"] = "message",
        ["status"] = status,
        ["role"] = "assistant",
        ["content"] = status == "in_progress" ? new JsonArray() : new JsonArray(TextPart(text)),
    };

    public static JsonObject TextPart(string text) => new() { ["type"] = "output_text", ["text"] = text, ["annotations"] = new JsonArray() };

    public static JsonObject FunctionCallItem(string id, string callId, string name, string arguments, string status) => new()
    {
        ["id"] = id,
        ["type"] = "function_call",
        ["status"] = status,
        ["call_id"] = callId,
        ["name"] = name,
        ["arguments"] = arguments,
    };

    /// <summary>Why the answer stopped short: max_output_tokens at a "length" finish, content_filter at a filter's.</summary>
    public static string? IncompleteReason(string? finishReason) => finishReason switch
    {
        "length" => "max_output_tokens",
        "content_filter" => "content_filter",
        _ => null,
    };

    /// <summary>Chat usage (prompt_tokens, completion_tokens) → the Responses API's (input_tokens, output_tokens, total_tokens).</summary>
    public static JsonObject? Usage(JsonNode? chatUsage)
    {
        if (chatUsage is not JsonObject usage)
        {
            return null;
        }

        var input = Count(usage["prompt_tokens"]);
        var output = Count(usage["completion_tokens"]);
        return new JsonObject
        {
            ["input_tokens"] = input,
            ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = Count(usage["prompt_tokens_details"]?["cached_tokens"]) },
            ["output_tokens"] = output,
            ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = Count(usage["completion_tokens_details"]?["reasoning_tokens"]) },
            ["total_tokens"] = input + output,
        };
    }

    private static long Count(JsonNode? node) => Json.TryInteger(node, out var n) ? n : 0;
}
