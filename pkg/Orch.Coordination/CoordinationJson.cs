using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Orch.Coordination.Signing;
using Orch.Protocol;

namespace Orch.Coordination;

/// <summary>
/// The protocol's JSON (<see cref="MessageJson.Options"/>) plus what adapters store of their own:
/// agent records and signed envelopes, with serialisation code generated at build time.
/// </summary>
public static class CoordinationJson
{
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(MessageJson.Options)
        {
            TypeInfoResolver = JsonTypeInfoResolver.Combine(CoordinationJsonContext.Default, MessageJson.Options.TypeInfoResolver),
        };
        options.MakeReadOnly();
        return options;
    }
}

[JsonSerializable(typeof(AgentInfo))]
[JsonSerializable(typeof(SignedEnvelope))]
internal sealed partial class CoordinationJsonContext : JsonSerializerContext;
