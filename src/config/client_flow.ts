import type { ClientConfig, Config, FlowSettings } from './types.js'

/**
 * The flow settings a client's grants are issued with: its own (clients[].device_flow_settings)
 * over device_flow_settings; a new object, so callers resolve once per client, not per request.
 */
export function flowSettingsFor (dfs: Config['device_flow_settings'], client: ClientConfig | undefined): FlowSettings {
  const own = client?.device_flow_settings
  return {
    device_flow_polling_interval_seconds: own?.device_flow_polling_interval_seconds ?? dfs.device_flow_polling_interval_seconds,
    device_flow_codelifetime_seconds: own?.device_flow_codelifetime_seconds ?? dfs.device_flow_codelifetime_seconds,
    device_flow_usercode_length: own?.device_flow_usercode_length ?? dfs.device_flow_usercode_length,
    device_flow_usercode_charset: own?.device_flow_usercode_charset ?? dfs.device_flow_usercode_charset
  }
}

/** Whether the client's device authorization responses carry verification_uri_complete (RFC 8628 §3.3.1). */
export function offersCompleteUri (client: ClientConfig | undefined): boolean {
  return client?.device_flow_settings?.verification_uri_complete !== false
}

/** The longest code lifetime any grant can be issued with, in seconds (the page cookie must outlive each). */
export function longestLifetime (config: Pick<Config, 'device_flow_settings' | 'clients'>): number {
  return Math.max(config.device_flow_settings.device_flow_codelifetime_seconds, ...config.clients.map(c => c.device_flow_settings?.device_flow_codelifetime_seconds ?? 0))
}
