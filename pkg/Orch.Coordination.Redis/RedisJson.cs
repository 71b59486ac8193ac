using Orch.Protocol;

namespace Orch.Coordination.Redis;

/// <summary>
/// The JSON used for everything the Redis adapters store: the protocol's own
/// (<see cref="MessageJson"/>), so values typed <see cref="object"/> come back as plain values
/// and identifiers are bare strings.
/// </summary>
public static class RedisJson
{
    public static System.Text.Json.JsonSerializerOptions Options => MessageJson.Options;
}
