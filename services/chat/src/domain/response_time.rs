//! A seller's response time, measured: the median time from a buyer's first message of a
//! conversation to the seller's first reply, over the conversations whose first message
//! came in the last 30 days. Conversations still waiting for a reply count once they have
//! waited longer than the median of the answered ones would say, so a seller who stops
//! answering does not keep a fast median: an unanswered one counts as its wait so far.

/// The window the median is over: 30 days, in milliseconds.
pub const RESPONSE_WINDOW_MILLIS: i64 = 30 * 86_400_000;

/// One buyer's first message and the seller's first reply to it, Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseSample {
    /// When the buyer's first message came.
    pub first_message_time: i64,
    /// When the seller first replied; `None` while unanswered.
    pub reply_time: Option<i64>,
}

/// The measured response time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseTime {
    /// The median, in seconds (rounded down); 0 when no sample is in the window.
    pub median_seconds: i64,
    /// How many samples the median is over.
    pub conversations: i32,
}

/// The median over the samples whose first message is in the window ending at `now`; an
/// unanswered sample counts as its wait so far.
pub fn median_response(samples: &[ResponseSample], now: i64) -> ResponseTime {
    let window_start = now - RESPONSE_WINDOW_MILLIS;
    let mut waits: Vec<i64> = samples
        .iter()
        .filter(|sample| sample.first_message_time >= window_start)
        .map(|sample| {
            let answered_or_now = sample.reply_time.unwrap_or(now);
            (answered_or_now - sample.first_message_time).max(0)
        })
        .collect();
    if waits.is_empty() {
        return ResponseTime {
            median_seconds: 0,
            conversations: 0,
        };
    }
    waits.sort_unstable();
    let middle = waits.len() / 2;
    let median_millis = if waits.len() % 2 == 1 {
        waits[middle]
    } else {
        // The mean of the two middle waits, without overflow.
        waits[middle - 1] + (waits[middle] - waits[middle - 1]) / 2
    };
    ResponseTime {
        median_seconds: median_millis / 1_000,
        conversations: i32::try_from(waits.len()).unwrap_or(i32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 100 * 86_400_000;
    const MINUTE: i64 = 60_000;

    fn answered(first: i64, after: i64) -> ResponseSample {
        ResponseSample {
            first_message_time: first,
            reply_time: Some(first + after),
        }
    }

    #[test]
    fn the_median_of_an_odd_and_an_even_count() {
        let samples = [
            answered(NOW - 10 * MINUTE, MINUTE),
            answered(NOW - 20 * MINUTE, 5 * MINUTE),
            answered(NOW - 30 * MINUTE, 3 * MINUTE),
        ];
        let time = median_response(&samples, NOW);
        assert_eq!(time.median_seconds, 180);
        assert_eq!(time.conversations, 3);
        let time = median_response(&samples[..2], NOW);
        assert_eq!(time.median_seconds, 180, "between 1 and 5 minutes");
    }

    #[test]
    fn only_the_window_counts_and_unanswered_ones_count_their_wait() {
        let samples = [
            answered(NOW - RESPONSE_WINDOW_MILLIS - 1, 1),
            ResponseSample {
                first_message_time: NOW - 60 * MINUTE,
                reply_time: None,
            },
        ];
        let time = median_response(&samples, NOW);
        assert_eq!(time.conversations, 1);
        assert_eq!(time.median_seconds, 3_600);
        assert_eq!(
            median_response(&[], NOW),
            ResponseTime {
                median_seconds: 0,
                conversations: 0
            }
        );
    }
}
