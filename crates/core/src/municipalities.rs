//! The 51 municipalities of Nuevo León with their INEGI codes (state 19), the
//! vocabulary of a dataset's spatial coverage. The code "19" stands for the
//! whole state.

pub const STATE_CODE: &str = "19";
pub const STATE_NAME: &str = "Nuevo León";

/// (INEGI code, name), in INEGI's order.
pub const MUNICIPALITIES: [(&str, &str); 51] = [
    ("19001", "Abasolo"),
    ("19002", "Agualeguas"),
    ("19003", "Los Aldamas"),
    ("19004", "Allende"),
    ("19005", "Anáhuac"),
    ("19006", "Apodaca"),
    ("19007", "Aramberri"),
    ("19008", "Bustamante"),
    ("19009", "Cadereyta Jiménez"),
    ("19010", "El Carmen"),
    ("19011", "Cerralvo"),
    ("19012", "Ciénega de Flores"),
    ("19013", "China"),
    ("19014", "Doctor Arroyo"),
    ("19015", "Doctor Coss"),
    ("19016", "Doctor González"),
    ("19017", "Galeana"),
    ("19018", "García"),
    ("19019", "San Pedro Garza García"),
    ("19020", "General Bravo"),
    ("19021", "General Escobedo"),
    ("19022", "General Terán"),
    ("19023", "General Treviño"),
    ("19024", "General Zaragoza"),
    ("19025", "General Zuazua"),
    ("19026", "Guadalupe"),
    ("19027", "Los Herreras"),
    ("19028", "Higueras"),
    ("19029", "Hualahuises"),
    ("19030", "Iturbide"),
    ("19031", "Juárez"),
    ("19032", "Lampazos de Naranjo"),
    ("19033", "Linares"),
    ("19034", "Marín"),
    ("19035", "Melchor Ocampo"),
    ("19036", "Mier y Noriega"),
    ("19037", "Mina"),
    ("19038", "Montemorelos"),
    ("19039", "Monterrey"),
    ("19040", "Parás"),
    ("19041", "Pesquería"),
    ("19042", "Los Ramones"),
    ("19043", "Rayones"),
    ("19044", "Sabinas Hidalgo"),
    ("19045", "Salinas Victoria"),
    ("19046", "San Nicolás de los Garza"),
    ("19047", "Hidalgo"),
    ("19048", "Santa Catarina"),
    ("19049", "Santiago"),
    ("19050", "Vallecillo"),
    ("19051", "Villaldama"),
];

/// The display name of a spatial code: a municipality or the whole state.
pub fn name_of(code: &str) -> Option<&'static str> {
    if code == STATE_CODE {
        return Some(STATE_NAME);
    }
    MUNICIPALITIES.iter().find(|(known, _)| *known == code).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_and_sequential() {
        for (index, (code, _)) in super::MUNICIPALITIES.iter().enumerate() {
            assert_eq!(*code, format!("19{:03}", index + 1));
        }
        assert_eq!(super::name_of("19039"), Some("Monterrey"));
        assert_eq!(super::name_of("19"), Some("Nuevo León"));
        assert_eq!(super::name_of("20001"), None);
    }
}
