/// Named queues' settings (pause, resume, concurrency).
extension JobQueue {
    /// Changes a queue's settings (pause, resume, concurrency): in effect at once
    /// once committed, and kept across restarts.
    public func updateQueue(_ name: String, _ settings: QueueSettings,
                            completion: @escaping @Sendable (Result<QueueSettings, StoreError>) -> Void) {
        if let failure = store?.failure { return completion(.failure(failure)) }
        transact { _ -> ((), Change?) in
            ((), Change(ops: [.queueSettings(name: name, settings)], effect: .queue(name, settings),
                        events: [QueueEvent(jobID: 0, sequence: 0, kind: .queueUpdated(name: name, settings))],
                        retry: false, done: { result in completion(result.map { settings }) }))
        }
    }
}
