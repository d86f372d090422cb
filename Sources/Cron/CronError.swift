/// Why a cron expression or a time zone name was rejected. `message` is meant for
/// the operator as is: it quotes the offending text and says what is wrong.
public struct CronError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}
