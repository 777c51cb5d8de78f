//! The query lexer: words (bare or quoted), operators, brackets, with byte offsets for
//! errors.

use super::QueryError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    LeftParen,
    RightParen,
    LeftCurly,
    RightCurly,
    Or,
    And,
    Not,
    Op(&'static str),
    Word(String),
    End,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: Kind,
    /// Byte offset in the query.
    pub(super) start: usize,
}

impl Token {
    pub(super) fn show(&self) -> String {
        match &self.kind {
            Kind::LeftParen => "`(`".into(),
            Kind::RightParen => "`)`".into(),
            Kind::LeftCurly => "`{`".into(),
            Kind::RightCurly => "`}`".into(),
            Kind::Or => "`|`".into(),
            Kind::And => "`,`".into(),
            Kind::Not => "`!`".into(),
            Kind::Op(op) => format!("`{op}`"),
            Kind::Word(word) => format!("{word:?}"),
            Kind::End => "end of the query".into(),
        }
    }
}

pub(super) fn column(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count() + 1
}

pub(super) fn lex(text: &str) -> Result<Vec<Token>, QueryError> {
    let error = |byte: usize, message: &str| QueryError {
        query: text.to_owned(),
        column: column(text, byte),
        message: message.to_owned(),
    };
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        // `<<`, `<=`, `<`; `>>`, `>=`, `>`: the second character when it is `twice` or `=`.
        let mut op = |twice: char, double: &'static str, or_equal: &'static str| match chars.peek()
        {
            Some((_, c)) if *c == twice => {
                chars.next();
                Kind::Op(double)
            }
            Some((_, '=')) => {
                chars.next();
                Kind::Op(or_equal)
            }
            _ => Kind::Op(or_equal),
        };
        let kind = match c {
            c if c.is_whitespace() => continue,
            '(' => Kind::LeftParen,
            ')' => Kind::RightParen,
            '{' => Kind::LeftCurly,
            '}' => Kind::RightCurly,
            '|' => Kind::Or,
            ',' => Kind::And,
            '!' => Kind::Not,
            // As dpkg (and aptly) read them: `<` is `<=` and `>` is `>=`.
            '<' => op('<', "<<", "<="),
            '>' => op('>', ">>", ">="),
            '=' => Kind::Op("="),
            '%' => Kind::Op("%"),
            '~' => Kind::Op("~"),
            '\'' | '"' => {
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err(error(start, "this quote is never closed")),
                        Some((_, q)) if q == c => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, escaped)) => word.push(escaped),
                            None => return Err(error(start, "this quote is never closed")),
                        },
                        Some((_, other)) => word.push(other),
                    }
                }
                Kind::Word(word)
            }
            first => {
                let mut word = String::from(first);
                while let Some((_, c)) = chars.peek() {
                    if c.is_whitespace() || "()|,!{}".contains(*c) {
                        break;
                    }
                    word.push(*c);
                    chars.next();
                }
                Kind::Word(word)
            }
        };
        tokens.push(Token { kind, start });
    }
    tokens.push(Token { kind: Kind::End, start: text.len() });
    Ok(tokens)
}
