//! The buyer's answers to an order's requirement questions, checked against the questions
//! copied into the order: every required question answered, each question at most once,
//! and each answer of its question's kind (text, one of the options, an https URL).

use gigmesh_errors::{ApiError, Violations, echoed_list, echoed_prefix};
use gigmesh_types::{HttpsUrl, Lines, parse_text};

use super::gig::{Question, QuestionKind};
use super::order::{Answer, AnswerValue};

/// Longest text answer, in characters.
pub const MAX_TEXT_ANSWER_CHARS: usize = 2_000;

/// An answer as the request carries it (trimmed by the parser of the request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawAnswer {
    /// Position of the question, from 0.
    pub question_index: i32,
    /// The answer to a text question.
    pub text: String,
    /// The chosen option of a multiple-choice question.
    pub choice: String,
    /// The file of an attachment question.
    pub attachment_url: String,
}

/// The answers, checked against `questions` and ordered by question; every violation is
/// reported at once under `answers[i].<field>` (or `answers` for a missing answer).
pub fn check_answers(questions: &[Question], raw: &[RawAnswer]) -> Result<Vec<Answer>, ApiError> {
    let mut violations = Violations::new();
    let mut answered = vec![false; questions.len()];
    let parsed =
        violations.parse_list("answers", raw, questions.len(), |field, raw, violations| {
            let index = usize::try_from(raw.question_index)
                .ok()
                .filter(|index| *index < questions.len());
            let Some(index) = index else {
                violations.add(
                    format!("{field}.question_index"),
                    format!(
                        "must name one of the order's {} questions, from 0",
                        questions.len()
                    ),
                );
                return None;
            };
            if answered[index] {
                violations.add(
                    format!("{field}.question_index"),
                    format!("question {index} is answered twice"),
                );
                return None;
            }
            answered[index] = true;
            let value = check_value(field, &questions[index], raw, violations)?;
            Some(Answer {
                question_index: index,
                value,
            })
        });
    for (index, question) in questions.iter().enumerate() {
        if question.required && !answered[index] {
            violations.add(
                "answers",
                format!(
                    "question {index} ({:?}) is required and has no answer",
                    echoed_prefix(&question.question)
                ),
            );
        }
    }
    violations.finish()?;
    let mut answers = parsed.unwrap_or_default();
    answers.sort_by_key(|answer| answer.question_index);
    Ok(answers)
}

fn check_value(
    field: &str,
    question: &Question,
    raw: &RawAnswer,
    violations: &mut Violations,
) -> Option<AnswerValue> {
    match question.kind {
        QuestionKind::Text => violations
            .check(parse_text(
                &format!("{field}.text"),
                &raw.text,
                1,
                MAX_TEXT_ANSWER_CHARS,
                Lines::Multiple,
            ))
            .map(AnswerValue::Text),
        QuestionKind::MultipleChoice => {
            let choice = raw.choice.trim();
            if choice.is_empty() {
                violations.add(format!("{field}.choice"), "is required");
                return None;
            }
            match question
                .options
                .iter()
                .find(|option| option.as_str() == choice)
            {
                Some(option) => Some(AnswerValue::Choice(option.clone())),
                None => {
                    violations.add(
                        format!("{field}.choice"),
                        format!(
                            "{:?} is not an option; choose one of {}",
                            echoed_prefix(choice),
                            echoed_list(question.options.iter().map(String::as_str))
                        ),
                    );
                    None
                }
            }
        }
        QuestionKind::Attachment => violations
            .check(HttpsUrl::parse(
                &format!("{field}.attachment_url"),
                &raw.attachment_url,
            ))
            .map(AnswerValue::Attachment),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn questions() -> Vec<Question> {
        vec![
            Question {
                question: "What is your brand?".to_owned(),
                kind: QuestionKind::Text,
                options: Vec::new(),
                required: true,
            },
            Question {
                question: "Which style?".to_owned(),
                kind: QuestionKind::MultipleChoice,
                options: vec!["Flat".to_owned(), "Retro".to_owned()],
                required: true,
            },
            Question {
                question: "Your current logo".to_owned(),
                kind: QuestionKind::Attachment,
                options: Vec::new(),
                required: false,
            },
        ]
    }

    fn text(index: i32, text: &str) -> RawAnswer {
        RawAnswer {
            question_index: index,
            text: text.to_owned(),
            ..RawAnswer::default()
        }
    }

    fn choice(index: i32, choice: &str) -> RawAnswer {
        RawAnswer {
            question_index: index,
            choice: choice.to_owned(),
            ..RawAnswer::default()
        }
    }

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::InvalidArgument(violations) => violations
                .into_iter()
                .map(|violation| violation.field)
                .collect(),
            other => panic!("not invalid input: {other}"),
        }
    }

    #[test]
    fn valid_answers_are_kept_in_question_order() {
        let answers = check_answers(
            &questions(),
            &[
                choice(1, " Retro "),
                text(0, " Acme "),
                RawAnswer {
                    question_index: 2,
                    attachment_url: "https://cdn.example.com/logo.png".to_owned(),
                    ..RawAnswer::default()
                },
            ],
        )
        .expect("valid");
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0].value, AnswerValue::Text("Acme".to_owned()));
        assert_eq!(answers[1].value, AnswerValue::Choice("Retro".to_owned()));
        assert!(matches!(answers[2].value, AnswerValue::Attachment(_)));
    }

    #[test]
    fn optional_questions_may_stay_unanswered() {
        assert!(check_answers(&questions(), &[text(0, "Acme"), choice(1, "Flat")]).is_ok());
    }

    #[test]
    fn every_bad_answer_is_named() {
        let error = check_answers(
            &questions(),
            &[
                choice(1, "Baroque"),
                text(1, "twice"),
                RawAnswer {
                    question_index: 2,
                    attachment_url: "http://insecure.example.com/a.png".to_owned(),
                    ..RawAnswer::default()
                },
            ],
        )
        .expect_err("invalid");
        assert_eq!(
            fields(error),
            [
                "answers[0].choice",
                "answers[1].question_index",
                "answers[2].attachment_url",
                "answers"
            ]
        );
        let error =
            check_answers(&questions(), &[text(7, "x"), text(-1, "y")]).expect_err("out of range");
        assert_eq!(
            fields(error),
            [
                "answers[0].question_index",
                "answers[1].question_index",
                "answers",
                "answers"
            ]
        );
        let error = check_answers(
            &questions(),
            &[text(0, &"a".repeat(2_001)), choice(1, "Flat")],
        )
        .expect_err("too long");
        assert_eq!(fields(error), ["answers[0].text"]);
        let error =
            check_answers(&questions(), &[text(0, "  "), choice(1, "Flat")]).expect_err("empty");
        assert_eq!(fields(error), ["answers[0].text"]);
    }
}
