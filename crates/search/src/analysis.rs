//! Spanish-first text analysis.
//!
//! Words are split on anything not alphanumeric, lowercased and folded
//! (á→a, é→e, ü→u…) **except ñ**, which stays a letter of its own: "poblacion"
//! finds "Población" but "ano" never finds "año". Then the Snowball Spanish
//! stemmer makes "accidentes" and "Accidente" the same term. Folding comes
//! before stemming so that queries typed without accents (as most are, on
//! phones) stem exactly like the accented text they look for.

use tantivy::tokenizer::{Language, RemoveLongFilter, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer};

/// The name the analyzer is registered under in the index.
pub const SPANISH: &str = "es_folded_stemmed";

pub fn spanish_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(FoldingTokenizer)
        .filter(RemoveLongFilter::limit(60))
        .filter(Stemmer::new(Language::Spanish))
        .build()
}

/// Lowercases and removes diacritics but keeps ñ.
pub fn fold(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).map(fold_char).collect()
}

fn fold_char(character: char) -> char {
    match character {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct FoldingTokenizer;

pub struct FoldedTokens {
    tokens: Vec<Token>,
    current: usize,
}

impl Tokenizer for FoldingTokenizer {
    type TokenStream<'a> = FoldedTokens;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> FoldedTokens {
        let mut tokens = Vec::new();
        let mut start: Option<usize> = None;
        let push = |from: usize, to: usize, tokens: &mut Vec<Token>| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: fold(&text[from..to]),
                position_length: 1,
            });
        };
        for (index, character) in text.char_indices() {
            match (character.is_alphanumeric(), start) {
                (true, None) => start = Some(index),
                (false, Some(from)) => {
                    push(from, index, &mut tokens);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(from) = start {
            push(from, text.len(), &mut tokens);
        }
        FoldedTokens { tokens, current: usize::MAX }
    }
}

impl TokenStream for FoldedTokens {
    fn advance(&mut self) -> bool {
        let next = self.current.wrapping_add(1);
        if next < self.tokens.len() {
            self.current = next;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.current]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.current]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut analyzer = spanish_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while stream.advance() {
            terms.push(stream.token().text.clone());
        }
        terms
    }

    #[test]
    fn accents_fold_but_enye_stays() {
        assert_eq!(terms("Población"), terms("poblacion"));
        assert_eq!(terms("ACCIDENTES"), terms("accidente"));
        assert_ne!(terms("año"), terms("ano"));
        assert_eq!(terms("Año"), terms("año"));
        assert_eq!(terms("San Nicolás de los Garza, N.L."), terms("san nicolas de los garza n l"));
    }
}
