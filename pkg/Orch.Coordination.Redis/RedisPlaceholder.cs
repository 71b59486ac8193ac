namespace Orch.Coordination.Redis;
